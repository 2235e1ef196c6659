"""Scheduled predictions in Terraform: schedules.yaml -> Cloud Scheduler jobs with OIDC.

Self-contained like the other infra tests: HCL parsed with python-hcl2, no emulator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mlsys.schedules import load_schedules
from tests.infra import invariants
from tests.infra.conftest import Mutate
from tests.infra.hcl import load


def scheduler_violations(infra: Path) -> list[str]:
    """Every scheduler job: POST to the service's /predict with an OIDC token of the dedicated
    scheduler account, audience = the service; that account may invoke the service."""
    config = load(invariants.module_dir(infra))
    jobs = config.resources("google_cloud_scheduler_job")
    if "predict" not in jobs:
        return ["no google_cloud_scheduler_job.predict"]
    problems = []
    target = (jobs["predict"].get("http_target") or [{}])[0]
    if target.get("http_method") != "POST":
        problems.append("scheduler job does not POST")
    if not str(target.get("uri", "")).endswith("google_cloud_run_v2_service.predict.uri}/predict"):
        problems.append(f"scheduler job calls {target.get('uri')!r}, not the service's /predict")
    oidc = (target.get("oidc_token") or [{}])[0]
    if oidc.get("service_account_email") != "${google_service_account.scheduler.email}":
        problems.append("scheduler job has no OIDC token of google_service_account.scheduler")
    if oidc.get("audience") != "${google_cloud_run_v2_service.predict.uri}":
        problems.append("scheduler OIDC audience is not the service URL")
    invokers = config.resources("google_cloud_run_v2_service_iam_member")
    if not any(
        b.get("member") == "serviceAccount:${google_service_account.scheduler.email}"
        and b.get("role") == "roles/run.invoker"
        for b in invokers.values()
    ):
        problems.append("the scheduler account may not invoke the service")
    return problems


def test_scheduler_jobs_call_the_service_with_oidc(infra: Path) -> None:
    assert scheduler_violations(infra) == []


def test_scheduler_lives_in_its_own_file_and_reads_schedules_yaml(infra: Path) -> None:
    module = invariants.module_dir(infra)
    assert "google_cloud_scheduler_job" not in (module / "run.tf").read_text()
    text = (module / "scheduler.tf").read_text()
    assert 'yamldecode(file("${local.repo_root}/schedules.yaml"))' in text
    assert "contains(s.envs, var.environment)" in text  # filtered by environment
    # every scheduled run is a job execution with a job id derived from the schedule's fire
    assert 'engine        = "job"' in text and "schedule      = each.key" in text
    assert 'replace(each.value.output_table, "{env}", var.environment)' in text
    assert load(module).locals()["repo_root"] == "${path.module}/../../.."


def test_schedules_yaml_is_valid_and_has_what_terraform_reads(repo: Path, infra: Path) -> None:
    schedules = load_schedules(repo / "schedules.yaml")
    assert schedules, "schedules.yaml declares no schedule"
    raw: list[dict[str, Any]] = yaml.safe_load((repo / "schedules.yaml").read_text())["schedules"]
    variable = load(invariants.module_dir(infra)).variables()["schedules"]
    wanted = {"name", "cron", "model", "version", "input_table", "output_table"}
    assert all(key in str(variable["type"]) for key in wanted)
    for entry in raw:
        assert wanted | {"envs"} <= set(entry), entry


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param(
            "service_account_email = google_service_account.scheduler.email",
            "service_account_email = google_service_account.predict.email",
            id="wrong-identity",
        ),
        pytest.param('http_method = "POST"', 'http_method = "GET"', id="get"),
        pytest.param(
            "audience              = google_cloud_run_v2_service.predict.uri",
            'audience              = "https://example.com"',
            id="wrong-audience",
        ),
    ],
)
def test_scheduler_weakening_is_caught(mutated_infra: Mutate, old: str, new: str) -> None:
    assert scheduler_violations(mutated_infra("modules/mlsys/scheduler.tf", old, new))


# --- the sharded prediction job (the engine the schedules and POST /predict can use) ------


def test_prediction_job_runs_as_its_own_account(infra: Path) -> None:
    module = load(invariants.module_dir(infra))
    job = module.resources("google_cloud_run_v2_job")["predict"]
    task = job["template"][0]["template"][0]
    assert task["service_account"] == "${google_service_account.predict_job.email}"
    assert set(task["containers"][0]["resources"][0]["limits"]) == {"cpu", "memory"}
    job_member = "serviceAccount:${google_service_account.predict_job.email}"
    grants = [
        (rtype, body.get("role"))
        for rtype, _, body in module.all_resources()
        if body.get("member") == job_member
    ]
    assert ("google_bigquery_dataset_iam_member", "roles/bigquery.dataEditor") in grants
    assert not any(str(role).startswith("roles/run.") for _, role in grants)  # runs nothing
    runners = module.resources("google_cloud_run_v2_job_iam_member")
    assert any(
        b["role"] == "roles/run.jobsExecutorWithOverrides"
        and b["member"] == "serviceAccount:${google_service_account.predict.email}"
        for b in runners.values()
    ), "the service cannot start executions with overrides"
