"""CLI start-up: wall seconds of `mlsys` commands, next to the Python interpreter's own floor.

Side by side, in one run, N rounds, each round running every command once (interleaved, so a
busy machine slows them all alike), against a local stack started here in a temporary folder
with one registered model:
  F. `python -c pass`: the interpreter alone (the floor of any Python CLI);
  H. `mlsys --help`;
  S. `mlsys models list`: through the service's HTTP API (MLSYS_SERVICE_URL);
  D. `mlsys models list --direct`: the library path (google-cloud-bigquery in the process);
  G. the service's GET /models alone from a bare interpreter (its share of S);
  P. `mlsys --help` with Typer's plain (not rich) help, for comparison.
It checks that S and D print the same JSON. With --write-docs the figures go between the
`bench/cli.py` markers of docs/benchmarks.md.

Run: uv run python bench/cli.py [--rounds 7] [--write-docs]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- bench/cli.py:start -->", "<!-- bench/cli.py:end -->"
TARGET_S = 1.0
READING = (
    "Reading: the read commands ask the service over HTTP (as the gcloud and mlflow CLIs ask "
    "their servers); the service holds the BigQuery client and re-reads the registry view only "
    "when events arrived (a two-column stamp query, G). `--direct` imports google-cloud-bigquery "
    "and pydantic-settings in every call. Neither `--help` nor S imports a Google client, "
    "pydantic or the settings: Typer is held below 0.29, which coerces every option through "
    "pydantic (measured 1.06 s for S with Typer 0.29.2, about 0.4 s of it pydantic). What S "
    "still pays: Typer and rich (about 0.3-0.5 s here) and the service's answer (G). `--help` "
    "costs more than S because Typer's rich help loads rich's markdown and traceback modules; "
    "P shows its plain help. The machine is shared: medians move by a third between runs; the "
    "ratios to the floor are steadier."
)
MLSYS = str(Path(sys.executable).parent / "mlsys")
GET = "import sys, urllib.request; urllib.request.urlopen(sys.argv[1]).read()"
#: label: (command, environment overrides); {service} is the stack's service URL.
COMMANDS: dict[str, tuple[list[str], dict[str, str]]] = {
    "F. python -c pass (floor)": ([sys.executable, "-c", "pass"], {}),
    "G. GET /models alone (python + urllib: the service's share)": (
        [sys.executable, "-c", GET, "{service}/models?env=dev&limit=50"],
        {},
    ),
    "H. mlsys --help": ([MLSYS, "--help"], {}),
    "P. mlsys --help, plain (TYPER_USE_RICH=0)": ([MLSYS, "--help"], {"TYPER_USE_RICH": "0"}),
    "S. mlsys models list (through the service)": ([MLSYS, "models", "list"], {}),
    "D. mlsys models list --direct (BigQuery client here)": (
        [MLSYS, "models", "list", "--direct"],
        {},
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()

    from mlsys.local.stack import LocalStack

    with tempfile.TemporaryDirectory(prefix="mlsys-bench-cli-") as state:
        stack = LocalStack(root=ROOT, state_dir=Path(state))
        info = stack.up(owner_pid=os.getpid())
        try:
            env = {**os.environ, **info.env, "COLUMNS": "120"}
            register_model(info.env)
            check_same_json(env)
            report = measure(env, args.rounds)
        finally:
            stack.down()
    print(report)
    if args.write_docs:
        write_docs(report)


def register_model(stack_env: dict[str, str]) -> None:
    """One small model in dev, so `models list` has a row to print."""
    os.environ.update(stack_env)
    from sklearn.linear_model import LogisticRegression

    from mlsys.gcs import gcs_put_pickle
    from mlsys.registry import wait_for_version
    from mlsys.settings import get_settings, reset_settings

    reset_settings()
    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    gcs_put_pickle(model, get_settings().bucket_for("dev"), "bench-cli/v1/model.pkl")
    wait_for_version("dev", "bench-cli", 1)


def check_same_json(env: dict[str, str]) -> None:
    """Both paths print the same page (else the comparison would be meaningless)."""
    outputs = [
        subprocess.run(
            [MLSYS, "models", "list", "--json", *extra],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        for extra in ([], ["--direct"])
    ]
    if json.loads(outputs[0]) != json.loads(outputs[1]) or not json.loads(outputs[0])["models"]:
        raise SystemExit(f"the service and --direct disagree:\n{outputs[0]}\n{outputs[1]}")


def measure(env: dict[str, str], rounds: int) -> str:
    times: dict[str, list[float]] = {label: [] for label in COMMANDS}
    service = env["MLSYS_SERVICE_URL"]
    for _ in range(rounds):
        for label, (command, extra) in COMMANDS.items():
            argv = [part.format(service=service) for part in command]
            start = time.perf_counter()
            subprocess.run(argv, env={**env, **extra}, cwd=ROOT, check=True, capture_output=True)
            times[label].append(time.perf_counter() - start)
    medians = {label: statistics.median(values) for label, values in times.items()}
    floor = medians["F. python -c pass (floor)"]
    listed = medians["S. mlsys models list (through the service)"]
    direct = medians["D. mlsys models list --direct (BigQuery client here)"]
    lines = [
        f"{rounds} rounds, commands interleaved, on the local stack (1 registered model), "
        f"{os.cpu_count()} cores shared, load average {os.getloadavg()[0]:.1f} at the end",
        "",
        "| command | median s | min s | max s | / floor |",
        "|---|---|---|---|---|",
    ]
    for label, values in times.items():
        lines.append(
            f"| {label} | {medians[label]:.2f} | {min(values):.2f} | {max(values):.2f} "
            f"| {medians[label] / floor:.0f}x |"
        )
    met = "met" if listed <= TARGET_S and medians["H. mlsys --help"] <= TARGET_S else "NOT met"
    lines += [
        "",
        f"models list through the service / --direct (median): {listed / direct:.2f}x",
        f"models list <= {TARGET_S:.1f} s: {met} ({listed:.2f} s; --help "
        f"{medians['H. mlsys --help']:.2f} s)",
    ]
    return "\n".join(lines)


def write_docs(report: str) -> None:
    text = DOCS.read_text()
    intro = (
        "`uv run python bench/cli.py --write-docs` starts its own local stack, registers one "
        "model and times each command as a new process:"
    )
    block = (
        f"{START}\n{textwrap.fill(intro, 100)}\n\n{report}\n\n{textwrap.fill(READING, 100)}\n{END}"
    )
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + f"\n\n## CLI start-up (`bench/cli.py`)\n\n{block}\n"
    DOCS.write_text(text)
    print(f"written to {DOCS}")


if __name__ == "__main__":
    main()
