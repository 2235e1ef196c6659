"""Start-up of the local stack: `mlsys local up` to every probe passing, per component.

    uv run python bench/local_stack.py --runs 3

Each run starts a whole stack in a temporary folder (as the test session does), prints when
each component first passed its probes and the total, and stops it. The proxy's cost on the
prediction path is measured side by side in bench/predict.py ((c) against (c')).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one_run() -> tuple[float, dict[str, float]]:
    from mlsys.local.stack import LocalStack

    with tempfile.TemporaryDirectory(prefix="mlsys-bench-stack-") as state:
        stack = LocalStack(root=ROOT, state_dir=Path(state))
        start = time.monotonic()
        ready: dict[str, float] = {}
        try:
            info = stack.up(on_ready=lambda name: ready.setdefault(name, time.monotonic() - start))
        finally:
            stack.down()
        return info.startup_seconds, ready


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    totals = []
    for run in range(args.runs):
        total, ready = one_run()
        totals.append(total)
        order = ", ".join(f"{n} {s:.1f}s" for n, s in sorted(ready.items(), key=lambda i: i[1]))
        print(f"run {run}: {total:.1f}s to ready ({order})", flush=True)
    print(f"median {statistics.median(totals):.1f}s over {args.runs} runs")


if __name__ == "__main__":
    main()
