"""Registry event rows: what the function appends for each object event."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

EVENT_TYPES = {
    "google.cloud.storage.object.v1.finalized": "finalized",
    "google.cloud.storage.object.v1.deleted": "deleted",
    "google.cloud.storage.object.v1.metadataUpdated": "metadataUpdated",
    # Versioned buckets: the live generation became noncurrent (overwritten or deleted) but is
    # still stored; see events._archived for what that means for a version.
    "google.cloud.storage.object.v1.archived": "archived",
}
STATUS_REGISTERED = "registered"
STATUS_DELETED = "deleted"
STATUS_REJECTED = "rejected"
#: An ``archived`` event of a model generation that is still stored: history, not state.
STATUS_NONCURRENT = "noncurrent"


def event_key(
    bucket: str,
    name: str,
    generation: int | None,
    event_type: str,
    metageneration: int | None = None,
) -> str:
    """The deterministic id of an object event: duplicates of one delivery share it."""
    parts = [bucket, name, str(generation or 0), event_type]
    if event_type == "metadataUpdated":
        parts.append(str(metageneration or 0))
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


@dataclass
class RegistryEvent:
    """One row of ``model_registry_events``."""

    event_id: str
    event_type: str
    status: str
    registered_at: dt.datetime
    gcs_bucket: str | None = None
    object_name: str | None = None
    reject_reason: str | None = None
    object_kind: str | None = None
    model_name: str | None = None
    model_version: int | None = None
    version_label: str | None = None
    environment: str | None = None
    artifact_uri: str | None = None
    artifact_format: str | None = None
    file_size_bytes: int | None = None
    generation: int | None = None
    metageneration: int | None = None
    md5_hash: str | None = None
    crc32c: str | None = None
    sha256: str | None = None
    upload_timestamp: dt.datetime | None = None
    uploader: str | None = None
    event_time: dt.datetime | None = None
    cloudevent_id: str | None = None
    metadata: str | None = None
    description: str | None = None
    tags: list[str] = field(default_factory=list)
    metrics: str | None = None
    features: str | None = None
    metadata_error: str | None = None
    source: str = "eventarc"

    def to_row(self) -> dict[str, Any]:
        """JSON-ready row for ``insert_rows_json``."""
        row = asdict(self)
        for key, value in row.items():
            if isinstance(value, dt.datetime):
                row[key] = value.astimezone(dt.UTC).isoformat()
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RegistryEvent:
        known: dict[str, Any] = {k: row.get(k) for k in cls.__dataclass_fields__ if k in row}
        for key in ("registered_at", "upload_timestamp", "event_time"):
            known[key] = parse_time(known.get(key))
        known["tags"] = list(known.get("tags") or [])
        return cls(**known)


def parse_time(value: Any) -> dt.datetime | None:
    """RFC 3339 text or a datetime -> an aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    text = str(value).replace("Z", "+00:00")
    parsed = dt.datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def to_json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
