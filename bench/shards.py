"""Sharded prediction benchmark: rows/s of 1, 2 and 4 task processes on the same input.

    uv run python bench/shards.py                     # 200k rows
    uv run python bench/shards.py --rows 500000 --write-docs

Each run plans one sharded job (``mlsys.predict.plan`` + ``engines.enqueue``) and starts its
tasks the way Cloud Run does: ``python -m mlsys.predict.task`` per task, with
``CLOUD_RUN_TASK_INDEX`` / ``CLOUD_RUN_TASK_COUNT`` in the environment, all at once. The time
is from the start of the processes to the exit of the last one, which includes the final
publish. Rows/s = input rows / that time. The bench starts its own local stack (emulators,
registry function) in a temporary folder and stops it at the end.

The model is the one of bench/predict.py: a RandomForestClassifier (50 trees, depth 10) on 10
numeric features.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
FEATURES = [f"x{i}" for i in range(10)]
DOCS = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- bench/shards.py:start -->", "<!-- bench/shards.py:end -->"
MODEL = "bench-shards"


def make_input(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.random((rows, len(FEATURES))), columns=FEATURES)
    frame.insert(0, "row_id", np.arange(rows, dtype=np.int64))
    return frame


def publish_model() -> None:
    """Train, upload to dev and wait until the registry function registered it."""
    import io

    import joblib
    from sklearn.ensemble import RandomForestClassifier

    from mlsys.gcs import gcs_put
    from mlsys.registry import wait_for_version
    from mlsys.settings import get_settings

    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.random((20_000, 10)), columns=FEATURES)
    y = (x.x0 + x.x1 * x.x2 + 0.1 * rng.standard_normal(len(x)) > 0.8).astype(int)
    model = RandomForestClassifier(n_estimators=50, max_depth=10, random_state=0).fit(x, y)
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    bucket = get_settings().bucket_for("dev")
    gcs_put(buffer.getvalue(), bucket, f"{MODEL}/v1/model.pkl")
    wait_for_version("dev", MODEL, 1, timeout=60)


def task_env() -> dict[str, str]:
    """The tasks' environment: bytecode cached (the image compiles it at build time,
    UV_COMPILE_BYTECODE=1), so the figures are not the cost of compiling imports."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "mlsys-bench-pycache")
    env["MLSYS_LOG_LEVEL"] = os.environ.get("BENCH_LOG_LEVEL", "WARNING")
    return env


def run_sharded(input_table: str, output_table: str, tasks: int) -> float:
    """Plan a job of ``tasks`` shards and run its task processes at once; returns seconds."""
    from mlsys.predict import PredictionRequest
    from mlsys.predict.engines import enqueue
    from mlsys.predict.plan import plan

    job_id = f"bench-{tasks}-{uuid.uuid4().hex[:8]}"
    request = PredictionRequest(
        env="dev",
        input_table=input_table,
        output_table=output_table,
        model_name=MODEL,
        model_version="1",
        engine="job",
        tasks=tasks,
        job_id=job_id,
        write_disposition="truncate",
    )
    enqueue(plan(request).plan)
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "mlsys.predict.task", "--env", "dev", "--job-id", job_id],
            cwd=ROOT,
            env={**task_env(), "CLOUD_RUN_TASK_INDEX": str(i), "CLOUD_RUN_TASK_COUNT": str(tasks)},
        )
        for i in range(tasks)
    ]
    codes = [p.wait() for p in procs]
    elapsed = time.perf_counter() - start
    if any(codes):
        raise SystemExit(f"a task of {job_id} failed: exit codes {codes}")
    return elapsed


def report(rows: int, results: dict[int, float]) -> str:
    base = rows / results[1]
    lines = [
        f"Input: {rows:,} rows x 10 float features, RandomForestClassifier (50 trees, depth "
        f"10); local emulator stack; {os.cpu_count()} CPU(s); `uv run python bench/shards.py "
        f"--rows {rows}`.",
        "",
        "| task processes | seconds (start -> last exit, incl. publish) | rows/s | vs 1 process |",
        "|---:|---:|---:|---:|",
    ]
    for tasks, seconds in results.items():
        speed = rows / seconds
        lines.append(f"| {tasks} | {seconds:.1f} | {speed:,.0f} | {speed / base:.2f}x |")
    return "\n".join(lines)


def write_docs(text: str) -> None:
    """Replace the figures between the markers in docs/benchmarks.md."""
    current = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n"
    block = f"{START}\n{text}\n{END}"
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    if pattern.search(current):
        DOCS.write_text(pattern.sub(lambda _: block, current))
    else:
        DOCS.write_text(current.rstrip() + "\n\n## Sharded prediction\n\n" + block + "\n")
    print(f"wrote the figures into {DOCS.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--tasks", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()

    from mlsys.bq import bq_put
    from mlsys.local.stack import LocalStack
    from mlsys.settings import get_settings, reset_settings

    with tempfile.TemporaryDirectory(prefix="mlsys-bench-shards-") as state:
        local = LocalStack(root=ROOT, state_dir=Path(state))
        info = local.up(owner_pid=os.getpid())
        os.environ.update(info.env)
        reset_settings()
        try:
            settings = get_settings()
            dataset = f"{settings.dataset_ref('dev')}"
            input_table = f"{dataset}.bench_shards_input"
            bq_put(make_input(args.rows), input_table, "WRITE_TRUNCATE")
            publish_model()
            run_sharded(input_table, f"{dataset}.bench_shards_warmup", 1)  # fills the pycache
            results = {}
            for tasks in args.tasks:
                out = f"{dataset}.bench_shards_out_{tasks}"
                results[tasks] = run_sharded(input_table, out, tasks)
                print(json.dumps({"tasks": tasks, "seconds": round(results[tasks], 2)}))
        finally:
            local.down()
    text = report(args.rows, results)
    print(text)
    if args.write_docs:
        write_docs(text)


if __name__ == "__main__":
    main()
