"""The policy derived from infra/: what each identity holds, and that it follows the Terraform
(a grant removed there is a permission gone here; one added is caught by an invariant)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlsys.local.iam import derive_policy
from mlsys.local.iam.roles import PREDEFINED_ROLES
from mlsys.local.terraform import load, strings
from mlsys.settings import Settings
from tests.infra.conftest import Mutate
from tests.local import policy_invariants

SETTINGS = Settings(
    _env_file=None,
    GCP_PROJECT_ID="mlsys-local-dev",
    GCP_PROJECT_ID_DEV="mlsys-local-dev",
    GCP_PROJECT_ID_STAGING="mlsys-local-staging",
    GCP_PROJECT_ID_PROD="mlsys-local-prod",
    GCP_REGION="europe-west1",
)
REGISTRY_DEV = "projects/mlsys-local-dev/datasets/mlsys_dev/tables/model_registry_events"
SERVICE_READS_REGISTRY = """resource "google_bigquery_dataset_iam_member" "service_reads_registry" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.registry.dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = "serviceAccount:${google_service_account.predict.email}"
}"""
SERVICE_READS_MODELS = (
    'role   = "roles/storage.objectViewer"\n'
    '  member = "serviceAccount:${google_service_account.predict.email}"'
)


@pytest.fixture(scope="module")
def policy(infra: Path):
    return derive_policy(infra, SETTINGS)


def test_every_role_infra_grants_is_in_the_table(infra: Path):
    roles = set()
    for folder in [infra / "modules" / "mlsys", *(infra / "envs").iterdir()]:
        for parsed in load(folder).files.values():
            for _path, value in strings(parsed, skip=frozenset({"__comments__", "description"})):
                roles.update(re.findall(r"roles/[A-Za-z0-9_.]*[A-Za-z0-9_]", value))
    assert roles, "no role found: the scan is broken"
    assert sorted(roles - set(PREDEFINED_ROLES)) == []


@pytest.mark.parametrize(
    ("principal", "permission", "resource", "granted"),
    [
        ("service@dev", "bigquery.tables.getData", REGISTRY_DEV, True),
        ("service@dev", "bigquery.tables.updateData", REGISTRY_DEV, False),
        ("function@dev", "bigquery.tables.updateData", REGISTRY_DEV, True),
        ("function@dev", "bigquery.tables.delete", REGISTRY_DEV, False),
        ("job@dev", "bigquery.readsessions.create", "projects/mlsys-local-dev", True),
        ("function@dev", "bigquery.readsessions.create", "projects/mlsys-local-dev", False),
        (
            "service@dev",
            "bigquery.tables.create",
            "projects/mlsys-local-dev/datasets/mlsys_ops_dev",
            True,
        ),
        (
            "service@dev",
            "storage.objects.get",
            "buckets/mlsys-models-dev/objects/m/v1/model.pkl",
            True,
        ),
        ("service@dev", "storage.objects.create", "buckets/mlsys-models-dev/objects/m/v1/x", False),
        ("service@dev", "storage.buckets.get", "buckets/mlsys-models-dev", False),
        # promotion: read on the source (downstream_promoter), create-only on the target
        (
            "promoter@staging",
            "storage.objects.get",
            "buckets/mlsys-models-dev/objects/m/v1/x",
            True,
        ),
        (
            "promoter@staging",
            "storage.objects.create",
            "buckets/mlsys-models-staging/objects/x",
            True,
        ),
        (
            "promoter@staging",
            "storage.objects.delete",
            "buckets/mlsys-models-staging/objects/x",
            False,
        ),
        ("promoter@staging", "storage.objects.create", "buckets/mlsys-models-dev/objects/x", False),
        ("promoter@prod", "bigquery.jobs.create", "projects/mlsys-local-staging", True),
        ("promoter@prod", "bigquery.jobs.create", "projects/mlsys-local-dev", False),
        ("promoter@dev", "bigquery.jobs.create", "projects/mlsys-local-dev", False),  # none in dev
        (
            "service@dev",
            "run.jobs.runWithOverrides",
            "projects/mlsys-local-dev/locations/europe-west1/jobs/mlsys-predict-job-dev",
            True,
        ),
        (
            "job@dev",
            "run.jobs.run",
            "projects/mlsys-local-dev/locations/europe-west1/jobs/mlsys-predict-job-dev",
            False,
        ),
    ],
)
def test_derived_policy_follows_the_terraform(policy, principal, permission, resource, granted):
    assert policy.allows(principal, permission, resource) is granted


def test_no_token_is_the_owner(policy):
    assert policy.allows(None, "bigquery.tables.delete", REGISTRY_DEV)


def test_service_accounts_are_named_as_terraform_names_them(policy):
    assert (
        policy.email("service@prod")
        == "mlsys-predict-prod@mlsys-local-prod.iam.gserviceaccount.com"
    )
    assert (
        policy.email("job@dev") == "mlsys-predict-job-dev@mlsys-local-dev.iam.gserviceaccount.com"
    )


def test_real_infra_is_least_privilege(policy):
    assert policy_invariants.violations(policy, SETTINGS) == []


def test_removing_a_grant_from_terraform_removes_the_permission(mutated_infra: Mutate):
    copy = mutated_infra("modules/mlsys/iam.tf", SERVICE_READS_REGISTRY, "")
    policy = derive_policy(copy, SETTINGS)
    assert not policy.allows("service@dev", "bigquery.tables.getData", REGISTRY_DEV)
    assert policy.allows("job@dev", "bigquery.tables.getData", REGISTRY_DEV)  # only that grant


@pytest.mark.parametrize(
    ("relative", "old", "new", "expected"),
    [
        pytest.param(
            "modules/mlsys/iam.tf",
            SERVICE_READS_REGISTRY,
            SERVICE_READS_REGISTRY.replace("dataViewer", "dataEditor"),
            "service@dev may write the registry",
            id="service-gets-dataEditor-on-the-registry",
        ),
        pytest.param(
            "modules/mlsys/iam.tf",
            SERVICE_READS_MODELS,
            SERVICE_READS_MODELS.replace("objectViewer", "objectAdmin"),
            "service@dev may write buckets/mlsys-models-dev",
            id="service-gets-objectAdmin-on-models",
        ),
        pytest.param(
            "modules/mlsys/iam.tf",
            '"bigquery.tables.updateData",\n  ]',
            '"bigquery.tables.updateData",\n    "bigquery.tables.delete",\n  ]',
            "function@dev may do more than append",
            id="registry-appender-may-delete",
        ),
        pytest.param(
            "modules/mlsys/promotion.tf",
            'role       = "roles/bigquery.dataViewer"\n  member     = var.downstream_promoter',
            'role       = "roles/bigquery.dataEditor"\n  member     = var.downstream_promoter',
            "promoter@staging may write dev's registry",
            id="downstream-promoter-writes-the-source",
        ),
    ],
)
def test_a_broader_grant_is_caught(mutated_infra: Mutate, relative, old, new, expected):
    policy = derive_policy(mutated_infra(relative, old, new), SETTINGS)
    problems = policy_invariants.violations(policy, SETTINGS)
    assert any(expected in p for p in problems), problems


def test_an_unknown_role_is_refused_not_ignored(mutated_infra: Mutate):
    from mlsys.local.terraform import TerraformError

    copy = mutated_infra(
        "modules/mlsys/iam.tf",
        '"roles/bigquery.readSessionUser", # Storage Read API for input',
        '"roles/bigquery.studioUser", #',
    )
    with pytest.raises(TerraformError, match=re.escape("roles/bigquery.studioUser")):
        derive_policy(copy, SETTINGS)
