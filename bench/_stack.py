"""What several benchmarks share: a local stack of their own, and percentiles.

Imported by the bench scripts as ``from _stack import ...`` (they run as
``uv run python bench/NAME.py``, so this folder is on the path)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (0 to 1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@contextmanager
def bench_stack() -> Iterator[dict[str, str]]:
    """A fresh local stack in a temporary folder, its endpoints exported to this process (and
    the settings re-read); stopped on the way out. Yields its environment."""
    from mlsys.local.stack import LocalStack
    from mlsys.settings import reset_settings

    stack = LocalStack(root=ROOT, state_dir=Path(tempfile.mkdtemp(prefix="mlsys-bench-")))
    info = stack.up(owner_pid=os.getpid())
    os.environ.update(info.env)
    reset_settings()
    try:
        yield info.env
    finally:
        stack.down()
