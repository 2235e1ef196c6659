"""Artifact loading benchmark: the allow-list unpickler against plain pickle.loads / joblib.load.

Side by side, in one run, on the same bytes in memory, runs interleaved (each round runs the
baseline and ours in a random order) and the median of each taken:
  - the demo model (src/mlsys/examples/titanic.py build_pipeline, fitted on the Titanic rows);
  - a RandomForestClassifier of about 50 MB;
each serialized three ways: pickle.dumps (read by pickle.loads), joblib.dump (read by
joblib.load) and joblib.dump with zlib level 3 (joblib.load). Ours is mlsys.safe_pickle.loads,
"cold" with its per-global decisions cleared before the run (the first model a process loads:
every check paid), "warm" with them cached (any later load).
The sha256 of the bytes (computed while downloading, before any unpickling) is shown apart.

Run: uv run python bench/artifacts.py [--runs 15] [--forest-trees 120] [--write-docs]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import pickle
import platform
import random
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.ensemble import RandomForestClassifier

from mlsys import pickle_allowlist, safe_pickle
from mlsys.examples import titanic

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- bench/artifacts.py:start -->", "<!-- bench/artifacts.py:end -->"
TARGET = 1.2


def demo_model() -> Any:
    train, _ = titanic.split(titanic.load_csv())
    return titanic.build_pipeline().fit(train[titanic.FEATURES], train[titanic.TARGET])


def forest(trees: int) -> Any:
    rng = np.random.default_rng(0)
    x = rng.random((20_000, 20))
    y = (x[:, 0] + rng.random(20_000) > 1).astype(int)
    return RandomForestClassifier(trees, n_jobs=-1, random_state=0).fit(x, y)


def serialized(model: Any) -> dict[str, tuple[bytes, str, Callable[[bytes], Any]]]:
    """format -> (bytes, baseline name, baseline loader)."""

    def dump(compress: object) -> bytes:
        buffer = io.BytesIO()
        joblib.dump(model, buffer, compress=compress)
        return buffer.getvalue()

    def joblib_load(data: bytes) -> Any:
        return joblib.load(io.BytesIO(data))

    return {
        "pickle": (pickle.dumps(model), "pickle.loads", pickle.loads),
        "joblib": (dump(0), "joblib.load", joblib_load),
        "joblib zlib-3": (dump(3), "joblib.load", joblib_load),
    }


def ours_cold(data: bytes) -> Any:
    """The first model a process loads: every global checked and imported."""
    pickle_allowlist.resolve.cache_clear()
    return ours_warm(data)


def ours_warm(data: bytes) -> Any:
    """A later load: the decisions about globals seen before are cached."""
    return safe_pickle.loads(data, max_bytes=2 * 1024**3)


def timed(fn: Callable[[bytes], Any], data: bytes) -> float:
    start = time.perf_counter()
    fn(data)
    return time.perf_counter() - start


def measure(models: dict[str, Any], args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for model_name, model in models.items():
        for fmt, (data, base_name, base) in serialized(model).items():
            runs = args.runs if len(data) > 1e6 else args.small_runs  # ms-scale: more samples
            ours_cold(data), base(data)  # imports of both, outside the clock
            times: dict[str, list[float]] = {"base": [], "cold": [], "warm": []}
            loaders = {"base": base, "cold": ours_cold, "warm": ours_warm}
            for _ in range(runs):
                for key in random.sample(list(loaders), 3):  # no variant always runs first
                    times[key].append(timed(loaders[key], data))
            hashing = min(timed(lambda d: hashlib.sha256(d).digest(), data) for _ in range(3))
            rows.append(
                {
                    "model": model_name,
                    "format": fmt,
                    "bytes": len(data),
                    "runs": runs,
                    "baseline": base_name,
                    "base_ms": statistics.median(times["base"]) * 1000,
                    "cold_ms": statistics.median(times["cold"]) * 1000,
                    "warm_ms": statistics.median(times["warm"]) * 1000,
                    "sha_ms": hashing * 1000,
                }
            )
            print(f"  {model_name}, {fmt}: done", file=sys.stderr)
    return rows


def report(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [
        f"Machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"joblib {joblib.__version__}; median of {args.runs} interleaved runs per cell "
        f"({args.small_runs} for files under 1 MB). Run: `uv run python bench/artifacts.py`.",
        "",
        "| model | format | size | baseline | baseline (ms) | allow-list, cold (ms) | ratio | "
        "allow-list, warm (ms) | ratio | sha256 of the bytes (ms) |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        size = f"{r['bytes'] / 1e6:.1f} MB" if r["bytes"] > 1e6 else f"{r['bytes'] / 1e3:.1f} kB"
        lines.append(
            f"| {r['model']} | {r['format']} | {size} | `{r['baseline']}` | "
            f"{r['base_ms']:.2f} | {r['cold_ms']:.2f} | {r['cold_ms'] / r['base_ms']:.2f}x | "
            f"{r['warm_ms']:.2f} | {r['warm_ms'] / r['base_ms']:.2f}x | {r['sha_ms']:.1f} |"
        )
    lines.append("")
    for column in ("cold", "warm"):
        worst = max(rows, key=lambda r: r[f"{column}_ms"] / r["base_ms"])
        ratio = worst[f"{column}_ms"] / worst["base_ms"]
        lines.append(
            f"- {column}: worst allow-list / baseline {ratio:.2f}x ({worst['model']}, "
            f"{worst['format']}; target <= {TARGET}x: {'met' if ratio <= TARGET else 'NOT met'})"
        )
    return "\n".join(lines)


def write_docs(text: str) -> None:
    """Replace the figures between the markers in docs/benchmarks.md."""
    docs = DOCS.read_text()
    block = f"{START}\n{text}\n{END}"
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    DOCS.write_text(pattern.sub(lambda _: block, docs) if pattern.search(docs) else docs + block)
    print(f"wrote the figures into {DOCS.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--small-runs", type=int, default=301)
    parser.add_argument("--forest-trees", type=int, default=120, help="about 0.42 MB per tree")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    print("fitting the models...", file=sys.stderr)
    models = {
        "demo (titanic Pipeline)": demo_model(),
        f"RandomForest ({args.forest_trees} trees)": forest(args.forest_trees),
    }
    text = report(measure(models, args), args)
    print(text)
    if args.write_docs:
        write_docs(text)


if __name__ == "__main__":
    main()
