"""Cold start of the prediction service: process start -> first ``/health`` 200.

    uv run python bench/coldstart.py                 # 7 rounds
    uv run python bench/coldstart.py --rounds 11 --write-docs

Cloud Run scales the service to zero, so the first request of the day pays a cold start. Each
round starts, in random order, two processes the same way (``python -m uvicorn APP --port P``,
bytecode already compiled, as in the image) and polls ``GET /health`` every 10 ms until it
answers 200:

- ``service``: ``service.main:app``, the mlsys service;
- ``bare``: a FastAPI app with one ``/health`` route, started the same way: the floor.

The ratio service / bare of the medians is the figure (target <= 1.5x). No backend is called:
``/health`` only says the process is up, and heavy modules (pyarrow, numpy, the BigQuery
clients, the model loaders) load on the first request that needs them.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- bench/coldstart.py:start -->", "<!-- bench/coldstart.py:end -->"
BARE = """from fastapi import FastAPI

app = FastAPI()


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cold_start(app: str, app_dir: Path, env: dict[str, str], timeout: float = 60.0) -> float:
    """Seconds from starting the process to its first ``/health`` 200."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", app, "--app-dir", str(app_dir)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        with httpx.Client(timeout=1.0) as client:
            while time.perf_counter() - start < timeout:
                try:
                    if client.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                        return time.perf_counter() - start
                except httpx.TransportError:
                    pass
                if process.poll() is not None:
                    raise SystemExit(f"{app} exited with {process.returncode}")
                time.sleep(0.01)
        raise SystemExit(f"{app} did not answer /health within {timeout}s")
    finally:
        process.terminate()
        process.wait(timeout=30)


def measure(rounds: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        bare_dir = Path(tmp)
        (bare_dir / "bare_app.py").write_text(BARE)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(bare_dir / "pycache")
        apps = {"service": ("service.main:app", ROOT), "bare": ("bare_app:app", bare_dir)}
        for app, app_dir in apps.values():  # compile bytecode first, as the image does
            cold_start(app, app_dir, env)
        times: dict[str, list[float]] = {name: [] for name in apps}
        for _ in range(rounds):
            order = list(apps)
            random.shuffle(order)
            for name in order:
                times[name].append(cold_start(*apps[name], env))
    return times


def report(times: dict[str, list[float]]) -> str:
    service, bare = statistics.median(times["service"]), statistics.median(times["bare"])
    ratio = service / bare
    verdict = "met" if ratio <= 1.5 else "NOT met"
    load = os.getloadavg()[0]
    lines = [
        f"`uv run python bench/coldstart.py --rounds {len(times['bare'])}`: process start -> "
        f"first `/health` 200, both apps started with `python -m uvicorn`, in random order per "
        f"round; {os.cpu_count()} CPUs, load average {load:.1f} at the end.",
        "",
        "| app | median s | min s | max s |",
        "|---|---:|---:|---:|",
    ]
    for name, label in (("bare", "bare FastAPI, one route"), ("service", "mlsys service")):
        values = times[name]
        lines.append(
            f"| {label} | {statistics.median(values):.2f} | {min(values):.2f} | {max(values):.2f} |"
        )
    lines += ["", f"cold start service / bare: {ratio:.2f}x (target <= 1.5x: {verdict})"]
    return "\n".join(lines)


def write_docs(text: str) -> None:
    current = DOCS.read_text()
    block = f"{START}\n{text}\n{END}"
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    if pattern.search(current):
        DOCS.write_text(pattern.sub(lambda _: block, current))
    else:
        DOCS.write_text(
            current.rstrip() + "\n\n## Cold start (`bench/coldstart.py`)\n\n" + block + "\n"
        )
    print(f"wrote the figures into {DOCS.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    text = report(measure(args.rounds))
    print(text)
    if args.write_docs:
        write_docs(text)


if __name__ == "__main__":
    main()
