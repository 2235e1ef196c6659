"""The registry's current state computed from events, in Python.

This is the same rule as ``schemas/model_registry_view.sql`` (used by the in-memory store and
checked against the BigQuery view by the shared store tests): a version's model file is its
lowest live registered generation (versions are immutable), its metadata the newest.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from mlsys.registry.records import STATUS_DELETED, STATUS_REGISTERED, RegistryEvent

_EPOCH = dt.datetime.min.replace(tzinfo=dt.UTC)
#: Only these rows are state: rejected ones never are, noncurrent ones are history.
_STATE_STATUSES = (STATUS_REGISTERED, STATUS_DELETED)

ARTIFACT_COLUMNS = (
    "model_name",
    "model_version",
    "version_label",
    "environment",
    "gcs_bucket",
    "object_name",
    "artifact_uri",
    "artifact_format",
    "file_size_bytes",
    "generation",
    "md5_hash",
    "crc32c",
    "sha256",
    "upload_timestamp",
    "uploader",
    "registered_at",
    "status",
)
METADATA_COLUMNS = ("metadata", "description", "tags", "metrics", "features", "metadata_error")


def dedupe(events: list[RegistryEvent]) -> list[RegistryEvent]:
    """Keep the first row of each event_id (duplicate deliveries)."""
    first: dict[str, RegistryEvent] = {}
    for event in sorted(events, key=lambda e: e.registered_at):
        first.setdefault(event.event_id, event)
    return list(first.values())


def _generation(e: RegistryEvent) -> tuple[str | None, str | None, int | None, str | None, int]:
    return (e.object_kind, e.model_name, e.model_version, e.object_name, e.generation or 0)


def _order(e: RegistryEvent, gone: set[Any]) -> tuple[Any, ...]:
    """Sort key: the smallest is current (the view's ORDER BY, ASC and DESC alike)."""
    model = e.object_kind == "model"
    rank = 2 if e.status == STATUS_DELETED else int(e.event_type == "metadataUpdated")
    return (
        # a model file: the first live generation is the version (versions are immutable)
        int(_generation(e) in gone) if model else 0,
        (e.generation or 0) if model else 0,
        (e.object_name or "") if model else "",
        # metadata.json: the newest generation wins
        -(e.generation or 0),
        -rank,
        -(e.metageneration or 0),
        -(e.registered_at or _EPOCH).timestamp(),
    )


def current_rows(events: list[RegistryEvent]) -> list[dict[str, Any]]:
    """One row per (model_name, model_version), like the ``model_registry`` view."""
    state = [e for e in dedupe(events) if e.status in _STATE_STATUSES and e.object_kind]
    gone = {_generation(e) for e in state if e.status == STATUS_DELETED}
    newest: dict[tuple[str, str, int], RegistryEvent] = {}
    for event in state:
        assert event.model_name is not None and event.model_version is not None
        key = (event.object_kind or "", event.model_name, event.model_version)
        if key not in newest or _order(event, gone) < _order(newest[key], gone):
            newest[key] = event
    rows = []
    for (kind, name, version), artifact in sorted(newest.items(), key=lambda kv: kv[0][1:]):
        if kind != "model":
            continue
        row: dict[str, Any] = {c: getattr(artifact, c) for c in ARTIFACT_COLUMNS}
        row["last_event_type"] = artifact.event_type
        meta = newest.get(("metadata", name, version))
        live_meta = meta is not None and meta.status == STATUS_REGISTERED
        for column in METADATA_COLUMNS:
            row[column] = getattr(meta, column) if live_meta and meta else None
        row["tags"] = row["tags"] or []
        row["metadata_generation"] = meta.generation if live_meta and meta else None
        profile = newest.get(("profile", name, version))
        live_profile = profile is not None and profile.status == STATUS_REGISTERED
        row["profile_generation"] = profile.generation if live_profile and profile else None
        row["profile_sha256"] = profile.sha256 if live_profile and profile else None
        rows.append(row)
    return flag_duplicates(rows)


def flag_duplicates(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Set ``duplicate_of`` (``vN``) on each version whose sha256 equals a lower registered
    version of the same model (the view's ``duplicates`` CTE)."""
    lowest: dict[tuple[str, str], int] = {}
    for row in rows:
        if row["status"] == STATUS_REGISTERED and row["sha256"]:
            key = (row["model_name"], row["sha256"])
            lowest[key] = min(lowest.get(key, row["model_version"]), row["model_version"])
    for row in rows:
        first = lowest.get((row["model_name"], row["sha256"])) if row["sha256"] else None
        row["duplicate_of"] = (
            f"v{first}" if first is not None and first < row["model_version"] else None
        )
    return rows


def live_object(events: list[RegistryEvent]) -> RegistryEvent | None:
    """The current event of ONE object (e.g. a version's export) by the same rule; None when
    it was deleted, rejected or never hashed."""
    state = [e for e in dedupe(events) if e.status in _STATE_STATUSES]
    if not state:
        return None
    gone = {_generation(e) for e in state if e.status == STATUS_DELETED}
    newest = min(state, key=lambda e: _order(e, gone))
    if newest.status != STATUS_REGISTERED or not newest.sha256:
        return None
    return newest
