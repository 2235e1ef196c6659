"""Versions are immutable: the first generation of a version's model file IS the version.

A later generation in the same version folder (new bytes over ``model.pkl``, or a second model
file beside it) is recorded as ``rejected`` with the reason, whatever order the events arrive
in. The function rejects it when it can see the earlier generation, in the bucket (live or
noncurrent, so also on a versioned bucket where the overwritten bytes are still kept) or in the
registry (a generation that was registered with its sha256, even if it was deleted since, so an
overwrite of an unversioned bucket cannot re-register a version). The view and
:mod:`mlsys.registry.state` enforce the same rule on whatever rows exist: the lowest live
registered generation is the version (see ``docs/registry.md``).
"""

from __future__ import annotations

from typing import Any

from mlsys.errors import ArtifactPathError
from mlsys.registry.contract import ArtifactPath, parse_artifact_path
from mlsys.registry.records import STATUS_DELETED, STATUS_REGISTERED
from mlsys.registry.store import RegistryStore
from mlsys.settings import get_settings

#: ``list_blobs(versions=...)``: fake-gcs-server only lists noncurrent generations when the
#: parameter is the literal ``true`` (the Python client would send ``True``); GCS takes both.
ALL_GENERATIONS: Any = "true"


def why_not_the_version(
    path: ArtifactPath,
    object_name: str,
    generation: int | None,
    *,
    bucket: str,
    store: RegistryStore,
) -> str | None:
    """Why ``object_name#generation`` cannot be its version's model file; None if it can."""
    from mlsys.clients import storage_client

    mine = (generation or 0, object_name)
    client = storage_client(get_settings().env_for_bucket(bucket))
    earlier = []
    for other in client.list_blobs(bucket, prefix=f"{path.prefix}model.", versions=ALL_GENERATIONS):
        if (int(other.generation or 0), other.name) < mine and _is_model_file(other.name):
            earlier.append((int(other.generation or 0), other.name))
    if earlier:
        first, name = min(earlier)
        return _reason(path, bucket, first, name, deleted=False)
    registered, gone = [], set()
    for event in store.events(model_name=path.model_name, version=path.version):
        key = (int(event.generation or 0), event.object_name or "")
        if event.object_kind != "model":
            continue
        if event.status == STATUS_DELETED:
            gone.add(key)
        elif event.status == STATUS_REGISTERED and event.sha256 and key < mine:
            registered.append(key)
    if registered:
        first, name = min(registered)
        return _reason(path, bucket, first, name, deleted=(first, name) in gone)
    return None


def _is_model_file(name: str) -> bool:
    try:
        return parse_artifact_path(name).kind == "model"
    except ArtifactPathError:
        return False


def _reason(path: ArtifactPath, bucket: str, generation: int, name: str, *, deleted: bool) -> str:
    file = name.rsplit("/", 1)[-1]
    state = "existed" if deleted else "already exists"
    gone = " and was deleted" if deleted else ""
    return (
        f"{path.version_label} of {path.model_name} {state} (generation {generation}, "
        f"{file}){gone}; versions are immutable: upload "
        f"v{next_free_version(bucket, path.model_name)}"
    )


def next_free_version(bucket: str, model_name: str) -> int:
    """The number after the highest ``vN`` folder of ``model_name`` in ``bucket``."""
    from mlsys.clients import storage_client

    client = storage_client(get_settings().env_for_bucket(bucket))
    blobs = client.list_blobs(bucket, prefix=f"{model_name}/v", delimiter="/")
    numbers = [0]
    for page in blobs.pages:
        for prefix in page.prefixes:
            folder = prefix.rstrip("/").rsplit("/", 1)[-1]
            if folder[1:].isdigit():
                numbers.append(int(folder[1:]))
    return max(numbers) + 1
