"""The registry's current state computed from events, in Python.

This is the same rule as ``schemas/model_registry_view.sql`` (used by the in-memory store and
checked against the BigQuery view by the shared store tests).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from mlsys.registry.records import STATUS_REGISTERED, STATUS_REJECTED, RegistryEvent

_RANK = {"deleted": 2, "metadataUpdated": 1, "finalized": 0}
_EPOCH = dt.datetime.min.replace(tzinfo=dt.UTC)

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


def _order(e: RegistryEvent) -> tuple[int, int, int, dt.datetime]:
    return (
        e.generation or 0,
        _RANK.get(e.event_type, 0),
        e.metageneration or 0,
        e.registered_at or _EPOCH,
    )


def current_rows(events: list[RegistryEvent]) -> list[dict[str, Any]]:
    """One row per (model_name, model_version), like the ``model_registry`` view."""
    newest: dict[tuple[str, str, int], RegistryEvent] = {}
    for event in dedupe(events):
        if event.status == STATUS_REJECTED or not event.object_kind:
            continue
        assert event.model_name is not None and event.model_version is not None
        key = (event.object_kind, event.model_name, event.model_version)
        if key not in newest or _order(event) > _order(newest[key]):
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
    return rows
