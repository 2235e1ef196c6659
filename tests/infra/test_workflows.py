"""Delivery invariants of .github/workflows that actionlint does not enforce."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infra import invariants
from tests.infra.hcl import load

WORKFLOWS = sorted((Path(__file__).resolve().parents[2] / ".github" / "workflows").glob("*.yml"))
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    # YAML 1.1 reads the key `on` as True.
    data["on"] = data.pop(True, data.get("on"))
    return data


def _steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


@pytest.fixture(params=WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def workflow_path(request: pytest.FixtureRequest) -> Path:
    return request.param


def test_expected_workflows_exist() -> None:
    names = {p.name for p in WORKFLOWS}
    assert {"ci.yml", "deploy.yml", "promote-model.yml"} <= names


def test_default_permissions_are_read_only(workflow_path: Path) -> None:
    assert _load(workflow_path)["permissions"] == {"contents": "read"}


def test_every_job_has_a_timeout(workflow_path: Path) -> None:
    for name, job in _load(workflow_path)["jobs"].items():
        if "uses" in job:  # a reusable-workflow call; its jobs carry the timeout
            continue
        assert "timeout-minutes" in job, f"{workflow_path.name}: job {name}"


def test_actions_are_pinned_to_commit_shas(workflow_path: Path) -> None:
    text = workflow_path.read_text(encoding="utf-8")
    for match in re.finditer(r"uses:\s*(\S+)(.*)", text):
        ref, rest = match.groups()
        if ref.startswith("./"):
            continue
        assert PINNED.match(ref), f"{workflow_path.name}: {ref} is not pinned to a commit"
        assert re.search(r"#\s*v\d", rest), f"{workflow_path.name}: {ref} lacks a version comment"


def test_checkout_does_not_persist_credentials(workflow_path: Path) -> None:
    for step in _steps(_load(workflow_path)):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step.get("with", {}).get("persist-credentials") is False


def test_google_auth_uses_workload_identity_only(workflow_path: Path) -> None:
    text = workflow_path.read_text(encoding="utf-8")
    assert "credentials_json" not in text
    for step in _steps(_load(workflow_path)):
        if step.get("uses", "").startswith("google-github-actions/auth@"):
            assert "workload_identity_provider" in step["with"]


def test_id_token_is_granted_per_job_not_per_workflow(workflow_path: Path) -> None:
    workflow = _load(workflow_path)
    assert "id-token" not in workflow["permissions"]


def test_concurrency_groups() -> None:
    for path in WORKFLOWS:
        workflow = _load(path)
        has_group = "concurrency" in workflow or any(
            "concurrency" in job for job in workflow["jobs"].values()
        )
        assert has_group, path.name


def test_ci_test_job_runs_the_ci_script() -> None:
    ci = _load(next(p for p in WORKFLOWS if p.name == "ci.yml"))
    assert any(step.get("run") == "bash .ci/run" for step in ci["jobs"]["test"]["steps"])
    plan = ci["jobs"]["terraform-plan"]
    assert plan["strategy"]["matrix"]["env"] == ["dev", "staging", "prod"]
    runs = " ".join(step.get("run", "") for step in plan["steps"])
    assert "terraform validate" in runs and "terraform plan" in runs


def test_staging_and_prod_deploy_a_digest_behind_environments() -> None:
    deploy = _load(next(p for p in WORKFLOWS if p.name == "deploy.yml"))
    reusable = _load(next(p for p in WORKFLOWS if p.name == "deploy-env.yml"))
    options = deploy["on"]["workflow_dispatch"]["inputs"]["environment"]["options"]
    assert options == ["staging", "prod"]
    job = reusable["jobs"]["deploy"]
    assert job["environment"]["name"] == "${{ inputs.environment }}"
    assert "sha256" in job["steps"][0]["run"]


def test_model_promotion_targets_an_environment() -> None:
    promote = _load(next(p for p in WORKFLOWS if p.name == "promote-model.yml"))
    inputs = promote["on"]["workflow_dispatch"]["inputs"]
    assert {"model", "version", "from_env", "to_env"} <= set(inputs)
    assert promote["jobs"]["promote"]["environment"]["name"] == "${{ inputs.to_env }}"


def test_terraform_variables_set_by_workflows_exist_in_every_root() -> None:
    infra = WORKFLOWS[0].parents[2] / "infra"
    text = "\n".join(p.read_text(encoding="utf-8") for p in WORKFLOWS)
    used = set(re.findall(r"TF_VAR_(\w+)", text)) | set(re.findall(r'-var "(\w+)=', text))
    assert used
    for env in invariants.ENVIRONMENTS:
        declared = set(load(invariants.env_dir(infra, env)).variables())
        assert used <= declared, f"{env}: {sorted(used - declared)}"
