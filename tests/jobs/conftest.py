"""Fixtures of the sharded-job tests: an input table, a model, and task processes."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline

from mlsys.bq import bq_put
from tests.conftest import ROOT
from tests.predict.helpers import numeric_frame, publish

FEATURES = ["f0", "f1", "f2", "f3"]
ROWS = 600
TASK_LEASE_S = 6


@pytest.fixture(scope="session")
def shard_input(stack, settings):
    """600 rows: row_id + f0..f3, a few NULL features; shared read-only input."""
    frame = numeric_frame(ROWS, seed=3)
    frame.loc[[5, 77, 400], "f1"] = None
    table = f"{settings.dataset_ref('dev')}.shard_input"
    bq_put(frame, table, "WRITE_TRUNCATE")
    return table


def trained_forest() -> Pipeline:
    """An imputing random forest (the input has NULL features), fitted on a DataFrame."""
    x = numeric_frame(300, seed=1)[FEATURES]
    y = (x["f0"] + x["f2"] > 1).astype(int).to_numpy()
    forest = RandomForestClassifier(n_estimators=10, random_state=0)
    return make_pipeline(SimpleImputer(), forest).fit(x, y)


@pytest.fixture(scope="session")
def forest(stack):
    """The forest, uploaded to dev and registered by the real function."""
    return publish(trained_forest())


def task_env() -> dict[str, str]:
    """This process's environment (the stack's endpoints) with bytecode cached in a temporary
    folder: the image compiles it at build time, and compiling every import in every task
    process would triple the tests' time. Tasks act as the job's own service account
    (``job``): the local stack refuses them what Terraform does not grant it."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "mlsys-tests-pycache")
    env["MLSYS_LOCAL_IDENTITY"] = "job"
    # A task that dies is taken over once its claim's lease runs out: short in tests.
    env["MLSYS_JOB_LEASE_SECONDS"] = str(TASK_LEASE_S)
    return env


def start_task(job_id: str, index: int, count: int, *, attempt: int = 0) -> subprocess.Popen:
    """``python -m mlsys.predict.task`` as Cloud Run starts it: task variables in the env."""
    env = {
        **task_env(),
        "CLOUD_RUN_TASK_INDEX": str(index),
        "CLOUD_RUN_TASK_COUNT": str(count),
        "CLOUD_RUN_TASK_ATTEMPT": str(attempt),
        "MLSYS_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "mlsys.predict.task", "--env", "dev", "--job-id", job_id],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def run_tasks(job_id: str, count: int, indexes: list[int] | None = None) -> None:
    """Run tasks in parallel processes and fail with their output if one fails."""
    procs = {i: start_task(job_id, i, count) for i in (indexes or range(count))}
    for i, proc in procs.items():
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"task {i} exited {proc.returncode}:\n{out}"
