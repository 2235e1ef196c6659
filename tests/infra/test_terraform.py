"""Invariants of the Terraform code that `terraform validate` cannot see offline."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.infra import invariants
from tests.infra.conftest import Mutate
from tests.infra.hcl import load

MODULE_FILES = (
    "apis.tf",
    "artifact_registry.tf",
    "bigquery.tf",
    "function.tf",
    "iam.tf",
    "outputs.tf",
    "run.tf",
    "storage.tf",
    "variables.tf",
    "versions.tf",
)


def test_module_is_split_by_concern(infra: Path) -> None:
    present = {p.name for p in invariants.module_dir(infra).glob("*.tf")}
    assert set(MODULE_FILES) <= present


def test_every_variable_is_typed_and_described(infra: Path) -> None:
    assert invariants.untyped_variables(infra) == []


def test_no_public_members(infra: Path) -> None:
    assert invariants.public_members(infra) == []


def test_no_basic_roles(infra: Path) -> None:
    assert invariants.basic_roles(infra) == []


def test_buckets_are_versioned_private_and_uniform(infra: Path) -> None:
    assert invariants.bucket_violations(infra) == []


def test_env_roots_call_the_module_with_every_required_variable(infra: Path) -> None:
    assert invariants.env_root_violations(infra) == []


def test_registry_triggers_cover_every_object_event_type(infra: Path) -> None:
    assert invariants.registry_trigger_events(infra) == invariants.REGISTRY_EVENTS


# --- each check catches what it is for -------------------------------------------------

PUBLIC_IAM = """
resource "google_storage_bucket_iam_member" "oops" {
  bucket = google_storage_bucket.models.name
  role   = "roles/storage.objectViewer"
  member = "allUsers"
}
"""

PUBLIC_INVOKER = """
resource "google_cloud_run_v2_service_iam_member" "oops" {
  name   = google_cloud_run_v2_service.predict.name
  role   = "roles/run.invoker"
  member = "allAuthenticatedUsers"
}
"""


@pytest.mark.parametrize(
    ("relative", "old", "new"),
    [
        pytest.param(
            "modules/mlsys/iam.tf",
            "# --- service accounts",
            PUBLIC_IAM + "\n#",
            id="bucket-allUsers",
        ),
        pytest.param(
            "modules/mlsys/iam.tf",
            "# --- service accounts",
            PUBLIC_INVOKER + "\n#",
            id="run-invoker-allAuthenticatedUsers",
        ),
        pytest.param(
            "envs/prod/main.tf",
            "  schedules         = var.schedules",
            '  schedules         = var.schedules\n  service_invokers  = ["allUsers"]',
            id="env-root-passes-allUsers",
        ),
        pytest.param(
            "modules/mlsys/variables.tf",
            "default     = []\n\n  validation {\n"
            "    condition     = length(setintersection(var.service_invokers",
            'default     = ["allUsers"]\n\n  validation {\n'
            "    condition     = length(setintersection(var.service_invokers",
            id="variable-default-allUsers",
        ),
    ],
)
def test_public_member_is_caught(mutated_infra: Mutate, relative: str, old: str, new: str) -> None:
    assert invariants.public_members(mutated_infra(relative, old, new))


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param("  versioning {\n    enabled = true\n  }\n", "", id="versioning-removed"),
        pytest.param(
            "  versioning {\n    enabled = true\n  }\n",
            "  versioning {\n    enabled = false\n  }\n",
            id="versioning-disabled",
        ),
        pytest.param(
            'public_access_prevention    = "enforced"',
            'public_access_prevention    = "inherited"',
            id="public-access-inherited",
        ),
        pytest.param(
            "uniform_bucket_level_access = true",
            "uniform_bucket_level_access = false",
            id="fine-grained-acls",
        ),
    ],
)
def test_bucket_weakening_is_caught(mutated_infra: Mutate, old: str, new: str) -> None:
    copy = mutated_infra("modules/mlsys/storage.tf", old, new)
    assert invariants.bucket_violations(copy)


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ("dev", "  github_repository = var.github_repository\n"),
        ("staging", "  deletion_protection    = false\n"),
        ("prod", "  service_min_instances  = 1\n"),
        ("prod", "  project_id        = var.project_id\n"),
    ],
)
def test_missing_required_variable_is_caught(mutated_infra: Mutate, env: str, line: str) -> None:
    problems = invariants.env_root_violations(mutated_infra(f"envs/{env}/main.tf", line, ""))
    assert any("misses required variables" in p for p in problems), problems


def test_shared_backend_prefix_is_caught(mutated_infra: Mutate) -> None:
    copy = mutated_infra("envs/staging/main.tf", 'prefix = "mlsys/staging"', 'prefix = "mlsys/dev"')
    assert any("shared" in p for p in invariants.env_root_violations(copy))


def test_dropped_trigger_is_caught(mutated_infra: Mutate) -> None:
    copy = mutated_infra(
        "modules/mlsys/function.tf",
        '    deleted          = "google.cloud.storage.object.v1.deleted"\n',
        "",
    )
    assert invariants.registry_trigger_events(copy) != invariants.REGISTRY_EVENTS


def test_basic_role_is_caught(mutated_infra: Mutate) -> None:
    copy = mutated_infra("modules/mlsys/wif.tf", '"roles/browser",', '"roles/editor",')
    assert invariants.basic_roles(copy)


# --- per-resource expectations -----------------------------------------------------------


def test_per_environment_values(infra: Path) -> None:
    calls = {
        env: load(invariants.env_dir(infra, env)).modules()["mlsys"]
        for env in invariants.ENVIRONMENTS
    }
    assert calls["prod"]["deletion_protection"] is True
    assert calls["prod"]["service_min_instances"] >= 1
    assert calls["dev"]["service_min_instances"] == 0


def test_registry_function_shape(infra: Path) -> None:
    module = load(invariants.module_dir(infra))
    function = module.resources("google_cloudfunctions2_function")["registry"]
    build, service = function["build_config"][0], function["service_config"][0]
    trigger = function["event_trigger"][0]
    assert build["runtime"] == "python312"
    assert build["entry_point"] == "on_gcs_event"
    assert service["service_account_email"].startswith(
        "${google_service_account.registry_function."
    )
    assert trigger["retry_policy"] == "RETRY_POLICY_RETRY"
    assert module.resources("google_pubsub_topic")["registry_dead_letter"]
    assert {f["attribute"] for f in trigger["event_filters"]} == {"bucket"}


def test_function_zip_holds_the_function_and_the_library(infra: Path) -> None:
    module = load(invariants.module_dir(infra))
    archive = next(
        b["archive_file"]["registry_function"] for b in module.blocks("data") if "archive_file" in b
    )
    names = [
        content["filename"]
        for dynamic in archive["dynamic"]
        for content in dynamic["source"]["content"]
    ]
    assert "${source.value}" in names
    assert "mlsys/${source.value}" in names
    local = module.locals()
    assert local["function_dir"].endswith("/functions/registry")
    assert local["library_dir"].endswith("/src/mlsys")


def test_registry_tables(infra: Path) -> None:
    tables = load(invariants.module_dir(infra)).resources("google_bigquery_table")
    events = tables["model_registry_events"]
    assert events["time_partitioning"][0] == {"type": "DAY", "field": "registered_at"}
    assert "model_name" in events["clustering"]
    assert tables["model_registry"]["view"][0]["use_legacy_sql"] is False
    assert {"registry_audit", "model_aliases"} <= set(tables)


def test_schema_files_exist_and_the_view_only_uses_known_placeholders(repo: Path) -> None:
    schemas = repo / "src" / "mlsys" / "schemas"
    for name in ("model_registry_events.json", "registry_audit.json", "model_aliases.json"):
        assert (schemas / name).is_file(), name
    sql = (schemas / "model_registry_view.sql").read_text(encoding="utf-8")
    assert set(re.findall(r"(?<!\$)\$\{([^}]*)\}", sql)) <= {"dataset"}


def test_prediction_service_shape(infra: Path) -> None:
    module = load(invariants.module_dir(infra))
    service = module.resources("google_cloud_run_v2_service")["predict"]
    template = service["template"][0]
    assert template["service_account"].startswith("${google_service_account.predict.")
    assert "${template[0].containers[0].image}" in service["lifecycle"][0]["ignore_changes"]
    limits = template["containers"][0]["resources"][0]["limits"]
    assert set(limits) == {"cpu", "memory"}
    job = module.resources("google_cloud_run_v2_job")["predict"]
    container = job["template"][0]["template"][0]["containers"][0]
    assert container["command"] + container["args"] == ["python", "-m", "mlsys.predict.task"]


def test_workload_identity_federation_for_github(infra: Path) -> None:
    module = load(invariants.module_dir(infra))
    provider = module.resources("google_iam_workload_identity_pool_provider")["github"]
    assert provider["oidc"][0]["issuer_uri"] == "https://token.actions.githubusercontent.com"
    assert "${var.github_repository}" in provider["attribute_condition"]
    assert not module.resources("google_service_account_key")


def test_service_and_job_can_write_job_bookkeeping_but_not_the_registry(infra: Path) -> None:
    module = load(invariants.module_dir(infra))
    members = module.resources("google_bigquery_dataset_iam_member")
    editors = {
        (m["dataset_id"], m["member"])
        for m in members.values()
        if m["role"] == "roles/bigquery.dataEditor"
    }
    ops = "${google_bigquery_dataset.ops.dataset_id}"
    registry = "${google_bigquery_dataset.registry.dataset_id}"
    for account in ("predict", "predict_job"):
        member = f"serviceAccount:${{google_service_account.{account}.email}}"
        assert (ops, member) in editors
        assert (registry, member) not in editors


@pytest.mark.parametrize(
    ("relative", "old", "new"),
    [
        pytest.param(
            "modules/mlsys/locals.tf",
            'coalesce(var.models_bucket_name, "${var.project_id}-mlsys-models-${var.environment}")',
            '"mlsys-models-${var.environment}"',
            id="literal models bucket",
        ),
        pytest.param(
            "modules/mlsys/storage.tf",
            'name     = "${var.project_id}-mlsys-fn-src-${var.environment}"',
            'name     = "mlsys-fn-src-${var.environment}"',
            id="function source bucket without the project",
        ),
        pytest.param(
            "modules/mlsys/locals.tf",
            '(format("GCS_BUCKET_MODELS_%s", local.env_upper)) = local.models_bucket_name',
            'GCS_BUCKET_MODELS_DEV = "mlsys-models-dev"',
            id="literal bucket handed to the code",
        ),
    ],
)
def test_literal_global_name_is_caught(
    mutated_infra: Mutate, relative: str, old: str, new: str
) -> None:
    assert invariants.global_name_violations(mutated_infra(relative, old, new))
