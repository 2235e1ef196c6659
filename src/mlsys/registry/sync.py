"""Reconcile: rescan a bucket and register whatever events missed (idempotent).

Each live object yields the same event id a real ``finalized`` delivery would have, so a sync
never duplicates what the function already recorded; registered artifacts whose object is gone
get the ``deleted`` event they missed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlsys.clients import storage_client
from mlsys.registry.events import build_event
from mlsys.registry.records import (
    STATUS_DELETED,
    STATUS_REGISTERED,
    STATUS_REJECTED,
    RegistryEvent,
    event_key,
    now,
)
from mlsys.registry.store import RegistryStore, registry_store
from mlsys.settings import check_env, get_settings

log = logging.getLogger("mlsys.registry.sync")


@dataclass
class SyncReport:
    env: str
    bucket: str
    scanned: int = 0
    already_recorded: int = 0
    registered: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    @property
    def appended(self) -> int:
        return len(self.registered) + len(self.rejected) + len(self.deleted)


def sync_bucket(
    env: str,
    *,
    store: RegistryStore | None = None,
    progress: Callable[[int], None] | None = None,
    dry_run: bool = False,
) -> SyncReport:
    """Register every live object of ``env``'s bucket not yet recorded; mark vanished ones.

    ``dry_run`` reports what a sync would append and writes nothing (read-only identities such
    as the prediction service may call it).
    """
    settings = get_settings()
    bucket = settings.bucket_for(check_env(env))
    target = store or registry_store(env)
    report = SyncReport(env, bucket)
    known = target.event_ids(bucket)
    new_events: list[RegistryEvent] = []
    live: set[tuple[str, int]] = set()
    for blob in storage_client(env).list_blobs(bucket):
        report.scanned += 1
        if progress:
            progress(report.scanned)
        live.add((blob.name, int(blob.generation or 0)))
        key = event_key(bucket, blob.name, blob.generation, "finalized")
        if key in known:
            report.already_recorded += 1
            continue
        event = build_event("finalized", _object_resource(blob), settings=settings, source="sync")
        new_events.append(event)
        (report.rejected if event.status == STATUS_REJECTED else report.registered).append(
            blob.name
        )
    for row in target.current():
        if row["status"] != STATUS_REGISTERED or row["gcs_bucket"] != bucket:
            continue
        if (row["object_name"], int(row["generation"] or 0)) in live:
            continue
        key = event_key(bucket, row["object_name"], row["generation"], "deleted")
        if key in known:
            continue
        new_events.append(
            RegistryEvent(
                event_id=key,
                event_type="deleted",
                status=STATUS_DELETED,
                registered_at=now(),
                gcs_bucket=bucket,
                object_name=row["object_name"],
                object_kind="model",
                model_name=row["model_name"],
                model_version=row["model_version"],
                version_label=row["version_label"],
                environment=env,
                artifact_uri=row["artifact_uri"],
                artifact_format=row["artifact_format"],
                generation=row["generation"],
                source="sync",
            )
        )
        report.deleted.append(row["object_name"])
    if dry_run:
        return report
    target.append(new_events)
    if store is None:  # the real registry: audit what the sync registered, as the function does
        from mlsys.audit import record_registration

        for event in new_events:
            record_registration(event)
    log.info("sync %s: scanned %d, appended %d", bucket, report.scanned, report.appended)
    return report


def _object_resource(blob: Any) -> dict[str, Any]:
    """The object fields a storage CloudEvent carries, from a listed blob."""
    return {
        "bucket": blob.bucket.name,
        "name": blob.name,
        "generation": blob.generation,
        "metageneration": blob.metageneration,
        "size": blob.size,
        "md5Hash": blob.md5_hash,
        "crc32c": blob.crc32c,
        "timeCreated": blob.time_created.isoformat() if blob.time_created else None,
        "metadata": blob.metadata or {},
    }
