"""The launcher: the plan, then ``JobsClient.run_job`` with the task count and args overrides.

The Cloud Run Admin API cannot run here: the local stack serves its subset
(:mod:`mlsys.local.runjobs`, ``MLSYS_CLOUD_RUN_ENDPOINT``), which the real google-cloud-run
client (REST transport) calls, and which runs the execution's tasks as real processes, as the
job's own identity, exactly as Cloud Run runs them.
"""

from __future__ import annotations

import time

import pytest

from mlsys.bq import bq_get
from mlsys.errors import ConfigError, NotFound
from mlsys.predict import PredictionRequest, get_job, submit
from mlsys.predict.cloudrun import _client_args, execution_progress, jobs_client
from mlsys.predict.ledger import ledger
from mlsys.settings import get_settings
from tests.jobs.conftest import ROWS

JOB = "projects/mlsys-local-dev/locations/europe-west1/jobs/mlsys-predict-job-dev"


def _request(shard_input, mv, out, job_id, tasks=3):
    return PredictionRequest.parse(
        dict(
            env="dev",
            input_table=shard_input,
            output_table=out,
            model_name=mv.model_name,
            model_version="latest",
            engine="job",
            tasks=tasks,
            job_id=job_id,
        )
    )


def launch(request: PredictionRequest):
    return submit(request).record


def wait_done(execution: str, timeout: float = 600.0) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while not (progress := execution_progress("dev", execution))["done"]:
        assert time.monotonic() < deadline, progress
        time.sleep(1.0)
    return progress


def executions_client():
    from google.cloud import run_v2

    return run_v2.ExecutionsClient(**_client_args(get_settings(), "dev"))


def executions_of_job() -> list[str]:
    return [e.name for e in executions_client().list_executions(parent=JOB)]


def test_launch_runs_the_envs_job_with_tasks_and_args(
    stack, shard_input, forest, dev_outputs, unique
):
    out = f"{dev_outputs}.launched_{unique}"
    started = launch(_request(shard_input, forest, out, f"launch-{unique}"))
    assert started.execution.startswith(f"{JOB}/executions/mlsys-predict-job-dev-")
    assert (started.status, started.engine, started.tasks) == ("queued", "job", 3)
    # "latest" is pinned in the plan for all tasks
    assert ledger("dev").plan(started.job_id).model_version == forest.model_version
    assert get_job("dev", started.job_id).status in ("queued", "running", "succeeded")
    (launched,) = ledger("dev").rows(started.job_id, "launch")
    assert started.execution in launched["payload"]
    found = executions_client().get_execution(name=started.execution)
    args = ["-m", "mlsys.predict.task", "--env", "dev", "--job-id", started.job_id]
    assert (found.task_count, list(found.template.containers[0].args)) == (3, args)
    progress = wait_done(started.execution)  # the stand-in ran three task processes as `job`
    assert (progress["succeeded"], progress["failed"]) == (3, 0)
    assert len(bq_get(f"SELECT row_id FROM `{out}`")) == ROWS
    assert get_job("dev", started.job_id).status == "succeeded"
    before = executions_of_job()
    again = launch(_request(shard_input, forest, out, started.job_id))  # a retried launch
    assert again.status == "succeeded" and executions_of_job() == before  # no second execution


def test_missing_cloud_run_job_is_not_found(
    stack, shard_input, forest, dev_outputs, unique, monkeypatch
):
    monkeypatch.setenv("MLSYS_PREDICT_JOB", "mlsys-no-such-job")
    get_settings.cache_clear()
    try:
        with pytest.raises(NotFound, match="mlsys-no-such-job"):
            launch(_request(shard_input, forest, f"{dev_outputs}.x_{unique}", f"nf-{unique}"))
    finally:
        monkeypatch.delenv("MLSYS_PREDICT_JOB")
        get_settings.cache_clear()
    record = get_job("dev", f"nf-{unique}")  # nothing runs, and the record says so
    assert (record.status, record.error_code) == ("failed", "NOT_FOUND")


def test_local_stack_never_reaches_the_real_cloud_run(stack, monkeypatch):
    monkeypatch.delenv("MLSYS_CLOUD_RUN_ENDPOINT", raising=False)
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigError, match="MLSYS_CLOUD_RUN_ENDPOINT"):
            jobs_client("dev")
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_post_predict_with_the_job_engine_starts_an_execution(
    stack, shard_input, forest, dev_outputs, unique
):
    from fastapi.testclient import TestClient

    from service.main import create_app

    body = {
        "input_table": shard_input,
        "output_table": f"{dev_outputs}.api_{unique}",
        "model_name": forest.model_name,
        "engine": "job",
        "tasks": 2,
        "job_id": f"api-{unique}",
    }
    response = TestClient(create_app()).post("/predict", json=body)
    assert response.status_code == 202, response.text
    assert (response.json()["job_id"], response.json()["status"]) == (f"api-{unique}", "queued")
    status = TestClient(create_app()).get(f"/jobs/api-{unique}")
    assert status.status_code == 200 and status.json()["rows_total"] == ROWS
    assert wait_done(response.json()["execution"])["task_count"] == 2
    bad = TestClient(create_app()).post("/predict", json={**body, "tasks": 0})
    assert bad.status_code == 400
    # bodies of earlier releases (deployed schedulers) keep working
    earlier = {**body, "engine": "cloud-run-job", "parallelism": 2, "job_id": f"old-{unique}"}
    del earlier["tasks"]
    response = TestClient(create_app()).post("/predict", json=earlier)
    assert response.status_code == 202 and response.json()["tasks"] == 2, response.text
    assert wait_done(response.json()["execution"])["succeeded"] == 2


def test_cli_predict_with_the_job_engine(stack, shard_input, forest, dev_outputs, unique):
    from typer.testing import CliRunner

    from mlsys.cli import _register, app

    _register()
    args = ["predict", "--input", shard_input, "--output", f"{dev_outputs}.cli_{unique}"]
    args += ["--model", forest.model_name, "--engine", "job", "--tasks", "2", "-e", "dev"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "executions/mlsys-predict-job-dev-" in result.output.replace("\n", "")
