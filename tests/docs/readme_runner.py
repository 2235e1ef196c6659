"""Runs README steps one after the other in one process, as `python -m tests.docs.readme_runner
STEPS RESULTS` from the checkout under test.

Each `uv run mlsys ...` step goes through the console script's own entry point
(``mlsys.cli.main``: its argument handling and its one-line errors) with ``sys.argv`` set as the
shell would set it; each ``python`` block runs in a fresh namespace. One process pays the
imports once (google-cloud-bigquery, scikit-learn), where a process per command paid them for
every command. Results (exit code, output, seconds) are written after every step, and the run
stops at the first failure."""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
import traceback
from pathlib import Path


def run_step(step: dict[str, object]) -> dict[str, object]:
    out, err = io.StringIO(), io.StringIO()
    started, code = time.monotonic(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            if step["kind"] == "python":
                exec(compile(str(step["text"]), "<README.md>", "exec"), {"__name__": "__main__"})
            else:
                from mlsys.cli import main

                sys.argv = ["mlsys", *step["args"]]  # type: ignore[misc]
                main()
        except SystemExit as exc:  # Typer ends every command with one
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:  # reported as the step's failure
            traceback.print_exc()
            code = 1
    return {
        "code": code,
        "stdout": out.getvalue(),
        "stderr": err.getvalue(),
        "seconds": round(time.monotonic() - started, 1),
    }


def main(steps_file: str, results_file: str) -> None:
    results = []
    for step in json.loads(Path(steps_file).read_text()):
        results.append(run_step(step))
        Path(results_file).write_text(json.dumps(results))
        if results[-1]["code"] != 0:
            break


if __name__ == "__main__":
    main(*sys.argv[1:3])
