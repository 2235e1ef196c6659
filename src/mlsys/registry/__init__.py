"""The model registry: GCS object events -> append-only BigQuery rows -> one current row per
(model, version). See ``docs/registry.md``."""

from mlsys.registry.api import (
    ModelPage,
    ModelSummary,
    ModelVersion,
    get_version,
    list_models,
    list_versions,
    wait_for_version,
)
from mlsys.registry.events import handle_cloudevent
from mlsys.registry.rejections import Rejection, list_rejections
from mlsys.registry.store import (
    BigQueryRegistryStore,
    InMemoryRegistryStore,
    RegistryStore,
    registry_store,
)

__all__ = [
    "BigQueryRegistryStore",
    "InMemoryRegistryStore",
    "ModelPage",
    "ModelSummary",
    "ModelVersion",
    "RegistryStore",
    "Rejection",
    "get_version",
    "handle_cloudevent",
    "list_models",
    "list_rejections",
    "list_versions",
    "registry_store",
    "wait_for_version",
]
