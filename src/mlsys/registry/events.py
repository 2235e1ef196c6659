"""Deciding what an object event means for the registry (all logic behind the function).

Every event ends in exactly one appended row, keyed by a deterministic event id, or in an
exception for transient backend failures (so Eventarc retries). Bad input never raises: it is
recorded as a ``rejected`` row with the reason and acknowledged.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from typing import Any

from google.api_core import exceptions as gexc

from mlsys.audit import record_registration
from mlsys.errors import ArtifactPathError, MetadataError
from mlsys.registry.contract import (
    MODEL_NAME_RE,
    VERSION_RE,
    ArtifactPath,
    parse_artifact_path,
    parse_metadata,
)
from mlsys.registry.immutability import why_not_the_version
from mlsys.registry.records import (
    EVENT_TYPES,
    STATUS_DELETED,
    STATUS_NONCURRENT,
    STATUS_REGISTERED,
    STATUS_REJECTED,
    RegistryEvent,
    event_key,
    now,
    parse_time,
    to_json,
)
from mlsys.registry.store import RegistryStore, registry_store
from mlsys.settings import Settings, get_settings

log = logging.getLogger("mlsys.registry")

HASH_CHUNK_BYTES = 8 * 1024 * 1024
UPLOADER_KEYS = ("uploader", "mlsys-uploader", "created_by", "goog-reserved-uploader")


def handle_cloudevent(
    ce_type: str,
    data: Mapping[str, Any],
    *,
    ce_id: str | None = None,
    ce_time: str | None = None,
    source: str = "eventarc",
    settings: Settings | None = None,
    store: RegistryStore | None = None,
) -> RegistryEvent | None:
    """Register what a GCS CloudEvent says happened; returns the appended row (None: ignored)."""
    settings = settings or get_settings()
    event_type = EVENT_TYPES.get(ce_type)
    if event_type is None:
        log.info("ignoring event type %s", ce_type)
        return None
    event = build_event(
        event_type,
        data,
        settings=settings,
        ce_id=ce_id,
        ce_time=ce_time,
        source=source,
        store=store,
    )
    target = store or registry_store(event.environment or settings.mlsys_env)
    target.append([event])
    if store is None:  # after the append: an audit failure retries, never loses the row
        record_registration(event)
    level = logging.WARNING if event.status == STATUS_REJECTED else logging.INFO
    log.log(
        level,
        "%s %s gs://%s/%s#%s%s",
        event.status,
        event_type,
        event.gcs_bucket,
        event.object_name,
        event.generation,
        f": {event.reject_reason}" if event.reject_reason else "",
        extra={"fields": {"model": event.model_name, "version": event.model_version}},
    )
    if event.status == STATUS_REGISTERED and event.object_kind == "model" and event.sha256:
        _warn_if_duplicate(event)
    return event


def _warn_if_duplicate(event: RegistryEvent) -> None:
    """Warn when another version of the model holds the same bytes (same MD5 and size in GCS;
    the registry view flags it by sha256 as ``duplicate_of``). One listing, no BigQuery query
    per event; a failed listing loses only the warning, never the row."""
    from mlsys.clients import storage_client

    if not event.md5_hash:  # composite objects have no MD5: the view still flags them
        return
    same = []
    try:
        for blob in storage_client(event.environment).list_blobs(
            event.gcs_bucket, prefix=f"{event.model_name}/v"
        ):
            if (blob.md5_hash, blob.size) != (event.md5_hash, event.file_size_bytes):
                continue
            try:
                path = parse_artifact_path(blob.name)
            except ArtifactPathError:
                continue
            if path.kind == "model" and path.version != event.model_version:
                same.append(path.version)
    except gexc.GoogleAPICallError as exc:
        log.warning("could not check %s for duplicates: %s", event.object_name, exc)
        return
    if same:
        log.warning(
            "duplicate: %s %s has the same bytes (md5 %s, %s bytes) as %s of the same model",
            event.model_name,
            event.version_label,
            event.md5_hash,
            event.file_size_bytes,
            ", ".join(f"v{v}" for v in sorted(same)),
        )


def build_event(
    event_type: str,
    data: Mapping[str, Any],
    *,
    settings: Settings,
    ce_id: str | None = None,
    ce_time: str | None = None,
    source: str = "eventarc",
    store: RegistryStore | None = None,
) -> RegistryEvent:
    """The registry row for one object event (reads the object for hashes and metadata, and
    the bucket and ``store`` for an earlier generation of the version)."""
    bucket = str(data.get("bucket") or "")
    name = str(data.get("name") or "")
    generation = _int(data.get("generation"))
    metageneration = _int(data.get("metageneration"))
    event = RegistryEvent(
        event_id=event_key(bucket, name, generation, event_type, metageneration),
        event_type=event_type,
        status=STATUS_REGISTERED,
        registered_at=now(),
        gcs_bucket=bucket,
        object_name=name,
        environment=settings.env_for_bucket(bucket),
        artifact_uri=f"gs://{bucket}/{name}",
        file_size_bytes=_int(data.get("size")),
        generation=generation,
        metageneration=metageneration,
        md5_hash=data.get("md5Hash"),
        crc32c=data.get("crc32c"),
        upload_timestamp=parse_time(data.get("timeCreated")),
        uploader=_uploader(data),
        event_time=parse_time(ce_time),
        cloudevent_id=ce_id,
        source=source,
    )
    if event.environment is None:
        return _reject(
            event,
            f"bucket {bucket!r} is not a configured models bucket "
            f"(expected one of {_buckets(settings)})",
        )
    try:
        path = parse_artifact_path(name)
    except ArtifactPathError as exc:
        _name_the_version(event, name)
        return _reject(event, exc.message)
    event.object_kind = path.kind
    event.model_name = path.model_name
    event.model_version = path.version
    event.version_label = path.version_label
    event.artifact_format = path.artifact_format
    if event_type == "deleted":
        event.status = STATUS_DELETED
        return event
    if event_type == "archived":
        return _archived(event, path, bucket, generation)
    if path.kind == "metadata":
        return _with_metadata(event, bucket, name, generation)
    if path.kind in ("export", "profile"):  # hashed and recorded, never a version of its own
        return _with_hash(event, bucket, generation)
    target = store or registry_store(event.environment)
    reason = why_not_the_version(path, name, generation, bucket=bucket, store=target)
    if reason is not None:
        return _reject(event, reason)
    return _with_hash(event, bucket, generation)


def _archived(
    event: RegistryEvent, path: ArtifactPath, bucket: str, generation: int | None
) -> RegistryEvent:
    """A versioned bucket's live generation became noncurrent (overwritten or deleted).

    A model file's generation is still stored, and still the version, until it is really
    deleted (a ``deleted`` event, e.g. by lifecycle): recorded as ``noncurrent``, which the
    view ignores. If it is already gone, it is recorded as deleted. A noncurrent
    ``metadata.json`` is no longer the version's metadata: deleted.
    """
    from mlsys.clients import storage_client

    event.status = STATUS_DELETED
    if path.kind == "model":
        name = event.object_name or ""
        client = storage_client(event.environment)
        if client.bucket(bucket).get_blob(name, generation=generation) is not None:
            event.status = STATUS_NONCURRENT
    return event


def _with_hash(event: RegistryEvent, bucket: str, generation: int | None) -> RegistryEvent:
    from mlsys.clients import storage_client

    blob = (
        storage_client(event.environment)
        .bucket(bucket)
        .blob(event.object_name or "", generation=generation)
    )
    try:
        event.sha256 = _sha256(blob)
    except gexc.NotFound:
        # That generation is gone already (overwritten or deleted before we could hash it):
        # it never was a version anyone could load, so it is recorded as deleted.
        event.status = STATUS_DELETED
        event.reject_reason = f"generation {generation} no longer exists; not hashed"
    return event


def _with_metadata(
    event: RegistryEvent, bucket: str, name: str, generation: int | None
) -> RegistryEvent:
    from mlsys.clients import storage_client

    blob = storage_client(event.environment).bucket(bucket).blob(name, generation=generation)
    try:
        raw = blob.download_as_bytes()
    except gexc.NotFound:
        event.metadata_error = f"metadata.json generation {generation} no longer exists"
        return event
    event.sha256 = hashlib.sha256(raw).hexdigest()
    event.metadata = raw.decode("utf-8", errors="replace")
    try:
        meta = parse_metadata(raw)
    except MetadataError as exc:
        event.metadata_error = exc.message
        return event
    event.description = meta.description
    event.tags = list(meta.tags)
    event.metrics = to_json(meta.metrics)
    if meta.features:  # names-only features (the seed's format) are stored without a dtype
        event.features = to_json([f.model_dump(exclude_none=True) for f in meta.features])
    return event


def _sha256(blob: Any) -> str:
    digest = hashlib.sha256()
    with blob.open("rb", chunk_size=HASH_CHUNK_BYTES) as stream:
        while chunk := stream.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _name_the_version(event: RegistryEvent, name: str) -> None:
    """A rejected file in a valid ``{model}/v{N}/`` folder (``iris/v1/model.pickle``) still
    names its model and version, so the audit trail and ``wait_for_version`` find it."""
    parts = name.split("/")
    match = VERSION_RE.match(parts[1]) if len(parts) == 3 else None
    if match and MODEL_NAME_RE.match(parts[0]):
        event.model_name, event.model_version = parts[0], int(match.group(1))
        event.version_label = f"v{event.model_version}"


def _reject(event: RegistryEvent, reason: str) -> RegistryEvent:
    event.status = STATUS_REJECTED
    event.reject_reason = reason
    return event


def _uploader(data: Mapping[str, Any]) -> str | None:
    metadata = data.get("metadata") or {}
    for key in UPLOADER_KEYS:
        if metadata.get(key):
            return str(metadata[key])
    return None


def _buckets(settings: Settings) -> str:
    return ", ".join(settings.bucket_for(e) for e in ("dev", "staging", "prod"))


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
