"""Every command of the README, run as written, in order, as a new user runs them.

A checkout of the project (its files linked into a temporary folder, so its own `.mlsys`) with
nothing running: `uv run mlsys demo` starts the local stack there, then each `bash` block's
commands and each `python` block run one after the other, at 80 columns, through the console
script's entry point (in one process: tests/docs/readme_runner.py), and `uv run mlsys local
down` stops it. The only command not run here is
`uv run pytest`: it is the suite running this test (CI runs it).

Nothing here knows the README's commands: they are read from the file, so a command added to
it is run by this test, and one that stops working fails it."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
#: Settings that point at a stack (the session's, exported by tests/conftest.py): a user's shell
#: has none of them, so the commands must find the stack through the checkout's `.mlsys`.
STACK_VARIABLES = re.compile(
    r"^(MLSYS_|GCP_PROJECT|GCS_BUCKET|STORAGE_EMULATOR|BIGQUERY_|GOOGLE_|CLOUDSDK_)"
)
#: The suite itself: CI runs it; running it from inside a test would recurse.
NOT_RUN_HERE = {("uv", "run", "pytest")}


@dataclass(frozen=True)
class Step:
    kind: str  # "bash" (one command) or "python" (a whole block)
    text: str

    @property
    def argv(self) -> tuple[str, ...]:
        return tuple(shlex.split(self.text, comments=True))


def readme_steps(text: str) -> list[Step]:
    """The README's commands in order: each `uv run` line of a ``bash`` block (continuation
    lines joined, comments dropped) and each ``python`` block whole."""
    steps = []
    for lang, body in re.findall(r"^```(\w*)\n(.*?)^```", text, re.S | re.M):
        if lang == "python":
            steps.append(Step("python", body))
        elif lang == "bash":
            for line in body.replace("\\\n", " ").splitlines():
                if line.strip() and not line.lstrip().startswith("#"):
                    steps.append(Step("bash", line.strip()))
    return steps


def test_the_readme_commands_are_found_and_all_are_understood():
    steps = readme_steps((ROOT / "README.md").read_text())
    commands = [s.argv for s in steps if s.kind == "bash"]
    assert ("uv", "run", "mlsys", "demo") in commands and ("uv", "run", "pytest") in commands
    assert len(commands) >= 20 and sum(s.kind == "python" for s in steps) >= 2
    for argv in commands:  # every command is something this test knows how to run
        assert argv[:2] == ("uv", "run") and argv[2] in ("mlsys", "pytest"), argv


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The project as a user's checkout: its files, no `.mlsys` (nothing started yet)."""
    folder = tmp_path_factory.mktemp("checkout")
    for entry in ROOT.iterdir():
        if entry.name not in {".mlsys", ".venv", ".git", ".pytest_cache", ".mypy_cache"}:
            (folder / entry.name).symlink_to(entry)
    yield folder
    if (folder / ".mlsys").exists():  # a failure midway: never leave a stack running
        subprocess.run(
            [str(BIN / "mlsys"), "local", "down"],
            cwd=folder,
            env=_user_env(),
            capture_output=True,
            check=False,
            timeout=120,
        )


def _user_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not STACK_VARIABLES.match(k)}
    return {**env, "COLUMNS": "80", "PYTHONUNBUFFERED": "1"}


def _run(step: Step, cwd: Path) -> subprocess.CompletedProcess[str]:
    """One step in a process of its own (`uv run X`: X of this environment)."""
    argv = [str(BIN / step.argv[2]), *step.argv[3:]]
    return subprocess.run(
        argv, cwd=cwd, env=_user_env(), capture_output=True, text=True, timeout=600, check=False
    )


def _run_all(steps: list[Step], cwd: Path) -> list[dict[str, Any]]:
    """Every step in order in one process (tests/docs/readme_runner.py: the imports are paid
    once), up to the first that fails; each one's exit code, output and seconds."""
    folder = cwd / ".readme-run"
    folder.mkdir(exist_ok=True)
    todo = [
        {"kind": s.kind, "text": s.text, "args": list(s.argv[3:]) if s.kind == "bash" else []}
        for s in steps
    ]
    (folder / "steps.json").write_text(json.dumps(todo))  # read by the runner
    done = folder / "results.json"
    steps_file = folder / "steps.json"
    runner = [sys.executable, "-m", "tests.docs.readme_runner", str(steps_file), str(done)]
    subprocess.run(
        runner, cwd=cwd, env=_user_env(), timeout=1500, check=False, stdin=subprocess.DEVNULL
    )
    return json.loads(done.read_text()) if done.exists() else []


#: What a few steps must have said, beyond succeeding (the rest: exit 0, no traceback).
EXPECTED = {
    "mlsys demo": "registered by itself",
    "mlsys local status": "healthy",
    "mlsys models list --search titanic --tag demo": "titanic-survival",
    "mlsys models show titanic-survival champion --env staging": "version_label: v1",
    "mlsys predict --env dev": "178 rows of titanic-survival v1",
    "mlsys promote titanic-survival v1 --from dev --to staging --dry-run": "dry-run",
    "mlsys promote titanic-survival v2 --from dev --to staging": "v2 is the champion of staging",
    "mlsys predict --env staging": "shadow v1",
    "mlsys rollback titanic-survival --env staging": "v1 is the champion again",
    "mlsys archive titanic-survival v2 --env dev": "archived v2",
    "mlsys local down": "stopped",
    "from mlsys import log_model": "v2",
}


#: What `mlsys demo` must have left in the checkout's stack, read back with the library right after
#: it (this replaced a separate in-process run of the demo: one run of it, as a user starts it).
DEMO_CHECKS = """
from mlsys.bq import bq_get
from mlsys.gcs import gcs_get
from mlsys.monitoring.store import model_drift
from mlsys.registry import get_version
from mlsys.settings import get_settings

settings = get_settings()
project, dataset = settings.project_for("dev"), settings.dataset_for("dev")
v1 = get_version("dev", "titanic-survival", "v1")
# one meaning per metric key: no bare "accuracy"; the hold-out one is what promotion gates on
assert set(v1.metrics) == {"cv_accuracy", "test_accuracy"}, v1.metrics
assert v1.metrics["cv_accuracy"] > 0.7 and v1.metrics["test_accuracy"] >= 0.78, v1.metrics
assert v1.has_profile and v1.uploader, v1  # logged with mlsys.log_model: a reference profile
assert b'"features"' in gcs_get(settings.bucket_for("dev"), "titanic-survival/v1/metadata.json")
count = "SELECT COUNT(*) AS n FROM `{}.{}.{}`"
n = bq_get(count.format(project, dataset, "titanic"))["n"].iloc[0]
m = bq_get(count.format(project, dataset, "titanic_test"))["n"].iloc[0]
assert n + m == 891, (n, m)
unlabeled = bq_get(f"SELECT * FROM `{project}.{dataset}.titanic_test` LIMIT 1").columns
assert "Survived" not in unlabeled
jobs = {}
for row in model_drift("dev", "titanic-survival"):
    jobs.setdefault(row.job_id, {})[row.feature] = row.status
assert len(jobs) == 2, jobs  # the unlabeled rows, then their shifted copy
plain, shifted = jobs.values()
assert set(plain.values()) == {"ok"}, plain
assert shifted["Age"] == shifted["Fare"] == "alert" and shifted["Sex"] == shifted["Pclass"] == "ok"
print("demo checked")
"""


def test_every_readme_command_runs_as_written_in_order(checkout: Path):
    found = readme_steps((checkout / "README.md").read_text())
    steps = [s for s in found if not (s.kind == "bash" and s.argv in NOT_RUN_HERE)]
    at = next(i for i, s in enumerate(steps) if s.argv[2:] == ("mlsys", "demo")) + 1
    steps.insert(at, Step("python", DEMO_CHECKS))  # not the README's: what the demo left
    results = _run_all(steps, checkout)
    for step, done in zip(steps, results, strict=False):
        print(f"{done['seconds']:6.1f}s  {step.text.splitlines()[0]}")
    checked = set()
    for step, done in zip(steps, results, strict=False):
        shown, out = step.text.splitlines()[0], done["stdout"]
        assert done["code"] == 0, f"{shown}\n{out[-3000:]}\n{done['stderr'][-3000:]}"
        assert "Traceback" not in done["stderr"], f"{shown}\n{done['stderr'][-3000:]}"
        # Tables fit 80 columns and never cut a name (rich's "titanic-sur…").
        for line in out.splitlines():
            if "│" in line or "┃" in line:
                assert len(line) <= 80, f"{shown}: a table line of {len(line)} columns\n{line}"
        assert not re.search(r"titanic-s?u?r?v?i?v?a?…", out), f"{shown}: a cut name"
        if step.text == DEMO_CHECKS:
            assert "demo checked" in out
        if step.argv[2:] == ("mlsys", "demo"):
            assert "/ui/models/titanic-survival" in out  # the console's address
        for prefix, expected in EXPECTED.items():
            if " ".join(step.argv[2:]).startswith(prefix) or step.text.startswith(prefix):
                said = " ".join(out.split())  # as read: lines wrap at 80 columns
                assert expected in said, f"{shown}: expected {expected!r}\n{out}"
                checked.add(prefix)
    # Every step ran (the suite itself aside), the checks above all applied, the stack is down.
    assert len(results) == len(steps) == len(found)  # `uv run pytest` out, the demo checks in
    assert checked == set(EXPECTED)
    status = _run(Step("bash", "uv run mlsys local status"), checkout)
    assert status.returncode == 1 and "not running" in status.stdout
