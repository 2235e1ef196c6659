"""Create what an environment needs when it is not managed by Terraform (the local stack, tests).

On Google Cloud, Terraform (``infra/``) owns these resources; the shapes are the same.
Every call is idempotent: it creates what is missing and leaves what exists.
"""

from __future__ import annotations

import contextlib
from typing import Any

from google.api_core import exceptions as gexc

from mlsys.clients import make_bigquery_client, make_storage_client
from mlsys.settings import ENVIRONMENTS, Settings, check_env, get_settings


def settings_for(endpoints: dict[str, str] | None) -> Settings:
    """Settings for explicit endpoints (``KEY=value`` of local.env), else the process's."""
    if endpoints is None:
        return get_settings()
    # The endpoints define the projects: unset per-env projects default to GCP_PROJECT_ID,
    # whatever this process's environment says.
    values: dict[str, Any] = {f"GCP_PROJECT_ID_{e.upper()}": None for e in ENVIRONMENTS}
    values.update(endpoints)
    return Settings(_env_file=None, **values)


def ensure_bucket(settings: Settings, env: str, *, versioning: bool = False) -> str:
    """The env's models bucket.

    Terraform turns object versioning on in Google Cloud, where deleting a live object then
    emits an ``archived`` event. fake-gcs-server emits no event at all in that case, so the local
    buckets are unversioned: deletes then emit ``deleted`` and the event path stays testable.
    """
    client = make_storage_client(settings, env)
    name = settings.bucket_for(env)
    bucket = client.bucket(name)
    bucket.versioning_enabled = versioning
    with contextlib.suppress(gexc.Conflict):  # exists already: keep it
        client.create_bucket(bucket, location=settings.gcp_region)
    return name


def ensure_dataset(settings: Settings, env: str) -> str:
    """The env's datasets, in the env's project: the registry ``mlsys_{env}``, job bookkeeping
    ``mlsys_ops_{env}`` and prediction outputs ``mlsys_predictions_{env}`` (as Terraform)."""
    from google.cloud import bigquery

    client = make_bigquery_client(settings, env)
    refs = (
        settings.dataset_ref(env),
        settings.ops_dataset_ref(env),
        settings.predictions_dataset_ref(env),
    )
    for ref in refs:
        dataset = bigquery.Dataset(ref)
        dataset.location = settings.bq_location
        client.create_dataset(dataset, exists_ok=True)
    return settings.dataset_ref(env)


def ensure_environment(
    env: str,
    *,
    endpoints: dict[str, str] | None = None,
    storage: bool = True,
    bigquery: bool = True,
) -> None:
    """Bucket, dataset and registry tables of one environment."""
    check_env(env)
    settings = settings_for(endpoints)
    if storage:
        ensure_bucket(settings, env)
    if bigquery:
        ensure_dataset(settings, env)
        from mlsys.registry.store import BigQueryRegistryStore

        BigQueryRegistryStore(env, settings).ensure_tables()
        from mlsys import audit
        from mlsys.registry import aliases

        audit.ensure_table(env, settings)
        aliases.ensure_table(env, settings)
