"""Stops a local stack when the process that owns it dies (test sessions that get killed).

Run: ``python -m mlsys.local.watchdog --owner PID --root ROOT --state-dir DIR``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import psutil

POLL_S = 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--owner", type=int, required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--state-dir", required=True)
    args = parser.parse_args()
    from mlsys.local.stack import LocalStack

    stack = LocalStack(root=Path(args.root), state_dir=Path(args.state_dir))
    while psutil.pid_exists(args.owner) and stack.state_file.exists():
        time.sleep(POLL_S)
    if stack.state_file.exists():
        stack.down()


if __name__ == "__main__":
    main()
