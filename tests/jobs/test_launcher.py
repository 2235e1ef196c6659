"""The launcher: the plan, then ``JobsClient.run_job`` with the task count and args overrides.

The Cloud Run Admin API cannot run here: these tests point the real google-cloud-run client
(REST transport) at a local HTTP stand-in of the API (tests/jobs/fake_run.py) that records the
request and answers with an Operation. The tasks are then started as Cloud Run would start
them, with the args the launcher sent, against the emulator stack.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from mlsys.bq import bq_get
from mlsys.errors import ConfigError, NotFound
from mlsys.jobs import launch, shard_store
from mlsys.jobs.launcher import execution_progress
from mlsys.predict import get_job
from mlsys.settings import get_settings
from tests.conftest import ROOT
from tests.jobs.conftest import ROWS, task_env
from tests.jobs.fake_run import fake_cloud_run


@pytest.fixture
def cloud_run(stack, monkeypatch):
    with fake_cloud_run() as fake:
        monkeypatch.setenv("MLSYS_CLOUD_RUN_ENDPOINT", fake.url)
        get_settings.cache_clear()
        yield fake
    get_settings.cache_clear()


def _request(shard_input, mv, out, job_id, tasks=3):
    return dict(
        env="dev",
        input_table=shard_input,
        output_table=out,
        model_name=mv.model_name,
        model_version="latest",
        tasks=tasks,
        job_id=job_id,
    )


def test_launch_runs_the_envs_job_with_tasks_and_args(
    cloud_run, shard_input, forest, dev_outputs, unique
):
    out = f"{dev_outputs}.launched_{unique}"
    started = launch(**_request(shard_input, forest, out, f"launch-{unique}"))
    (method, path, body) = cloud_run.requests[-1]
    job = "projects/mlsys-local-dev/locations/europe-west1/jobs/mlsys-predict-job-dev"
    assert (method, path) == ("POST", f"/v2/{job}:run")
    args = ["-m", "mlsys.jobs.predict", "--env", "dev", "--job-id", started.job_id]
    assert body["overrides"] == {"containerOverrides": [{"args": args}], "taskCount": 3}
    assert started.execution == f"{job}/executions/exec-1"
    assert started.plan.model_version == forest.model_version  # "latest" pinned for all tasks
    assert get_job("dev", started.job_id).status == "running"
    assert [r["payload"] for r in shard_store("dev").rows(started.job_id, "launch")] == [
        started.execution
    ]
    progress = execution_progress(started.execution)
    assert (progress["task_count"], progress["running"]) == (3, 3)

    # Play Cloud Run: run the container's `python` with the overridden args, once per task.
    procs = [
        subprocess.Popen(
            [sys.executable, *body["overrides"]["containerOverrides"][0]["args"]],
            cwd=ROOT,
            env={**task_env(), "CLOUD_RUN_TASK_INDEX": str(i), "CLOUD_RUN_TASK_COUNT": "3"},
        )
        for i in range(3)
    ]
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0]
    assert len(bq_get(f"SELECT row_id FROM `{out}`")) == ROWS
    assert get_job("dev", started.job_id).status == "succeeded"
    again = launch(**_request(shard_input, forest, out, started.job_id))  # a retried launch
    assert again.execution == "" and len(cloud_run.requests) == 2  # no second execution


def test_missing_cloud_run_job_is_not_found(cloud_run, shard_input, forest, dev_outputs, unique):
    cloud_run.missing_jobs.add("mlsys-predict-job-dev")
    with pytest.raises(NotFound, match="mlsys-predict-job-dev"):
        launch(**_request(shard_input, forest, f"{dev_outputs}.x_{unique}", f"nf-{unique}"))
    record = get_job("dev", f"nf-{unique}")  # nothing runs, and the record says so
    assert (record.status, record.error_code) == ("failed", "NOT_FOUND")


def test_local_stack_never_reaches_the_real_cloud_run(stack, monkeypatch):
    monkeypatch.delenv("MLSYS_CLOUD_RUN_ENDPOINT", raising=False)
    get_settings.cache_clear()
    from mlsys.jobs.launcher import jobs_client

    with pytest.raises(ConfigError, match="MLSYS_CLOUD_RUN_ENDPOINT"):
        jobs_client()
    get_settings.cache_clear()


def test_post_predict_with_the_job_engine_starts_an_execution(
    cloud_run, shard_input, forest, dev_outputs, unique
):
    from fastapi.testclient import TestClient

    from service.main import create_app

    body = {
        "input_table": shard_input,
        "output_table": f"{dev_outputs}.api_{unique}",
        "model_name": forest.model_name,
        "engine": "cloud-run-job",
        "parallelism": 4,
        "job_id": f"api-{unique}",
    }
    response = TestClient(create_app()).post("/predict", json=body)
    assert response.status_code == 202, response.text
    assert (response.json()["job_id"], response.json()["status"]) == (f"api-{unique}", "running")
    assert cloud_run.requests[-1][2]["overrides"]["taskCount"] == 4
    status = TestClient(create_app()).get(f"/jobs/api-{unique}")
    assert status.status_code == 200 and status.json()["rows_total"] == ROWS
    bad = TestClient(create_app()).post("/predict", json={**body, "parallelism": 0})
    assert bad.status_code == 400


def test_cli_predict_with_the_job_engine(cloud_run, shard_input, forest, dev_outputs, unique):
    from typer.testing import CliRunner

    from mlsys.cli import _register, app

    _register()
    args = ["predict", "--input", shard_input, "--output", f"{dev_outputs}.cli_{unique}"]
    args += ["--model", forest.model_name, "--engine", "cloud-run-job", "--tasks", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert cloud_run.requests[-1][2]["overrides"]["taskCount"] == 2
    assert "exec-1" in result.output.replace("\n", "")
