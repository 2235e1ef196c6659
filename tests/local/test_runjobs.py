"""Cloud Run Jobs on the local stack: executions started through the official google-cloud-run
client (REST) run their tasks as real processes, with Cloud Run's variables and the job's own
identity, retries, timeouts and cancellation, under the Terraform's IAM grants.

The tasks here override the container args (the image's command is ``python``) with a small
script that records what it was given, so each test reads what the task really saw.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import psutil
import pytest
from google.api_core import exceptions as gexc
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import run_v2
from google.oauth2.credentials import Credentials

from mlsys.local.identities import token_for

SCRIPT = """
import json, os, pathlib, sys, time
out = pathlib.Path(sys.argv[1])
keys = ["CLOUD_RUN_TASK_INDEX", "CLOUD_RUN_TASK_COUNT", "CLOUD_RUN_TASK_ATTEMPT",
        "CLOUD_RUN_EXECUTION", "CLOUD_RUN_JOB", "MLSYS_LOCAL_IDENTITY", "MLSYS_ENV", "GREETING"]
seen = {k: os.environ.get(k) for k in keys}
seen["pid"] = os.getpid()
index, attempt = seen["CLOUD_RUN_TASK_INDEX"], seen["CLOUD_RUN_TASK_ATTEMPT"]
(out / f"task-{index}-attempt-{attempt}.json").write_text(json.dumps(seen))
plan = json.loads(sys.argv[2]).get(f"{index}/{attempt}", "ok")
if plan == "sleep":
    time.sleep(300)
sys.exit(0 if plan == "ok" else int(plan))
"""
TERMINAL = ("CONDITION_SUCCEEDED", "CONDITION_FAILED")


def job_name(settings, env: str = "dev") -> str:
    location = f"projects/{settings.project_for(env)}/locations/{settings.gcp_region}"
    return f"{location}/jobs/mlsys-predict-job-{env}"


def clients(stack, identity: str | None = None, env: str = "dev"):
    credentials = (
        Credentials(token=token_for(identity, env)) if identity else AnonymousCredentials()
    )
    options = ClientOptions(api_endpoint=stack.env["MLSYS_CLOUD_RUN_ENDPOINT"])
    args = {"credentials": credentials, "transport": "rest", "client_options": options}
    return run_v2.JobsClient(**args), run_v2.ExecutionsClient(**args)


def run(
    stack,
    settings,
    tmp_path: Path,
    plan: dict[str, str],
    *,
    tasks: int,
    identity="service",
    **extra,
):
    jobs, _ = clients(stack, identity)
    container = run_v2.RunJobRequest.Overrides.ContainerOverride(
        args=["-c", SCRIPT, str(tmp_path), json.dumps(plan)],
        env=[run_v2.EnvVar(name="GREETING", value="hello")],
    )
    overrides = run_v2.RunJobRequest.Overrides(
        container_overrides=[container], task_count=tasks, **extra
    )
    operation = jobs.run_job(
        request=run_v2.RunJobRequest(name=job_name(settings), overrides=overrides)
    )
    return operation.metadata.name


def wait_done(stack, name: str, timeout: float = 180.0) -> run_v2.Execution:
    _, executions = clients(stack)
    deadline = time.monotonic() + timeout
    while True:
        found = executions.get_execution(name=name)
        if found.completion_time and found.conditions[0].state.name in TERMINAL:
            return found
        assert time.monotonic() < deadline, found
        time.sleep(0.5)


def seen(tmp_path: Path) -> dict[tuple[int, int], dict]:
    found = {}
    for path in tmp_path.glob("task-*-attempt-*.json"):
        index, attempt = map(int, re.findall(r"\d+", path.name))
        found[(index, attempt)] = json.loads(path.read_text())
    return found


def test_an_execution_runs_its_tasks_as_processes_of_the_job(stack, settings, tmp_path):
    name = run(stack, settings, tmp_path, {"1/0": "3"}, tasks=3)
    done = wait_done(stack, name)
    assert (done.task_count, done.succeeded_count, done.failed_count) == (3, 3, 0)
    assert done.retried_count == 1 and done.conditions[0].state.name == "CONDITION_SUCCEEDED"
    runs = seen(tmp_path)
    assert sorted(runs) == [(0, 0), (1, 0), (1, 1), (2, 0)]  # task 1 exited 3, then retried
    execution_id = name.rsplit("/", 1)[-1]
    for (index, attempt), env in runs.items():
        assert env["CLOUD_RUN_TASK_INDEX"] == str(index)
        assert env["CLOUD_RUN_TASK_ATTEMPT"] == str(attempt)
        assert env["CLOUD_RUN_TASK_COUNT"] == "3"
        assert env["CLOUD_RUN_EXECUTION"] == execution_id
        assert env["CLOUD_RUN_JOB"] == "mlsys-predict-job-dev"
        assert (env["MLSYS_LOCAL_IDENTITY"], env["MLSYS_ENV"], env["GREETING"]) == (
            "job",
            "dev",
            "hello",
        )
    assert len({env["pid"] for env in runs.values()}) == 4  # real processes, one per attempt


def test_a_killed_task_is_retried(stack, settings, tmp_path):
    name = run(stack, settings, tmp_path, {"0/0": "sleep"}, tasks=1)
    deadline = time.monotonic() + 120
    while (0, 0) not in seen(tmp_path):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    os.kill(seen(tmp_path)[(0, 0)]["pid"], signal.SIGKILL)
    done = wait_done(stack, name)
    assert (done.succeeded_count, done.failed_count, done.retried_count) == (1, 0, 1)
    assert sorted(seen(tmp_path)) == [(0, 0), (0, 1)]


def test_a_task_failing_every_attempt_fails_the_execution(stack, settings, tmp_path):
    name = run(stack, settings, tmp_path, {"0/0": "2", "0/1": "2"}, tasks=2)
    done = wait_done(stack, name)
    assert (done.succeeded_count, done.failed_count) == (1, 1)  # max_retries = 1 (run.tf)
    assert done.conditions[0].state.name == "CONDITION_FAILED"
    assert sorted(seen(tmp_path)) == [(0, 0), (0, 1), (1, 0)]


def test_a_task_past_its_timeout_is_stopped_and_counted_failed(stack, settings, tmp_path):
    from google.protobuf import duration_pb2

    plan = {"0/0": "sleep", "0/1": "sleep"}
    name = run(stack, settings, tmp_path, plan, tasks=1, timeout=duration_pb2.Duration(seconds=3))
    done = wait_done(stack, name)
    assert (done.succeeded_count, done.failed_count) == (0, 1)
    state = json.loads(
        (
            Path(stack.extra["state_dir"]) / "executions" / f"{name.rsplit('/', 1)[-1]}.json"
        ).read_text()
    )
    assert [a["reason"] for a in state["tasks"][0]["attempts"]] == ["timed out", "timed out"]


def test_cancel_stops_the_running_tasks(stack, settings, tmp_path):
    name = run(stack, settings, tmp_path, {"0/0": "sleep", "1/0": "sleep"}, tasks=2)
    deadline = time.monotonic() + 120
    while len(seen(tmp_path)) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    _, executions = clients(stack, "service")
    executions.cancel_execution(name=name)
    done = wait_done(stack, name)
    assert done.cancelled_count == 2 and done.conditions[0].state.name == "CONDITION_FAILED"
    assert not any(
        psutil.pid_exists(env["pid"]) and psutil.Process(env["pid"]).status() != "zombie"
        for env in seen(tmp_path).values()
    )


def test_the_job_is_what_terraform_declares(stack, settings):
    jobs, executions = clients(stack, "service")
    job = jobs.get_job(name=job_name(settings))
    assert (job.template.task_count, job.template.parallelism) == (4, 4)
    assert job.template.template.max_retries == 1
    assert list(job.template.template.containers[0].command) == ["python"]
    assert job.template.template.service_account.startswith("mlsys-predict-job-dev@")
    listed = executions.list_executions(parent=job_name(settings))
    assert all(e.name.startswith(job_name(settings)) for e in listed)


@pytest.mark.parametrize(
    ("identity", "env", "permission"),
    [
        ("job", "dev", "run.jobs.run"),  # the job's own account starts nothing
        ("function", "dev", "run.jobs.run"),
        ("service", "staging", "run.jobs.run"),  # staging's service, on dev's job
    ],
)
def test_only_the_service_may_run_the_job(stack, settings, tmp_path, identity, env, permission):
    credentials = Credentials(token=token_for(identity, env))
    options = ClientOptions(api_endpoint=stack.env["MLSYS_CLOUD_RUN_ENDPOINT"])
    jobs = run_v2.JobsClient(credentials=credentials, transport="rest", client_options=options)
    with pytest.raises(gexc.Forbidden, match=re.escape(permission)):
        jobs.run_job(name=job_name(settings))


def test_executions_survive_a_restart_of_the_api(stack, settings, tmp_path):
    from tests.local.test_faults import COMEBACK_S

    name = run(stack, settings, tmp_path, {"0/0": "sleep"}, tasks=2, identity=None)
    deadline = time.monotonic() + 120
    while (0, 0) not in seen(tmp_path):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    from mlsys.local.stack import LocalStack

    local = LocalStack(root=Path(stack.root), state_dir=Path(stack.extra["state_dir"]))
    local.restart("runjobs", timeout=COMEBACK_S)
    os.kill(seen(tmp_path)[(0, 0)]["pid"], signal.SIGKILL)  # still followed by its runner
    done = wait_done(stack, name)
    assert (done.succeeded_count, done.retried_count) == (2, 1)
