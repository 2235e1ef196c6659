"""Server-side copy of a version's objects to another environment's bucket, never overwriting.

Objects are copied by the storage service (``rewrite``; no bytes pass through this process),
pinned to the source generation the registry recorded, with ``if_generation_match=0`` on the
target so an object that appeared meanwhile is never replaced. An identical object already in
place (same size and MD5) counts as copied: promoting twice is a no-op. metadata.json goes
first so the target's registry function finds it when the model's event arrives. The copy's
custom metadata names the promoter as ``uploader`` (the registry's and audit's actor for the
target's registration), keeps the ``original-uploader`` and says where it was ``promoted-from``.

fake-gcs-server ignores preconditions on rewrite, so the explicit look at the target before
copying is what protects the local stack; on Google Cloud the precondition closes the race.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from google.api_core import exceptions as gexc

from mlsys.clients import storage_client
from mlsys.errors import ArtifactExists, ObjectNotFound
from mlsys.registry.contract import METADATA_FILE, PROFILE_FILE
from mlsys.settings import get_settings


@dataclass(frozen=True)
class SourceObject:
    """One object of the version in the source bucket, at the generation the registry saw."""

    name: str
    generation: int | None


@dataclass
class CopyReport:
    bucket: str
    copied: list[str] = field(default_factory=list)
    identical: list[str] = field(default_factory=list)

    @property
    def noop(self) -> bool:
        return not self.copied


def plan_copy(
    model_object: str,
    model_generation: int | None,
    metadata_generation: int | None,
    profile_generation: int | None = None,
) -> list[SourceObject]:
    """metadata.json and profile.json (when registered) first, then the model file."""
    prefix = model_object.rsplit("/", 1)[0]
    objects = []
    if metadata_generation is not None:
        objects.append(SourceObject(f"{prefix}/{METADATA_FILE}", metadata_generation))
    # The reference profile travels with the version: drift in prod is measured against it.
    if profile_generation is not None:
        objects.append(SourceObject(f"{prefix}/{PROFILE_FILE}", profile_generation))
    objects.append(SourceObject(model_object, model_generation))
    return objects


def check_target(objects: list[SourceObject], *, from_env: str, to_env: str) -> CopyReport:
    """What a copy would do, raising :class:`ArtifactExists` if it would clash."""
    settings = get_settings()
    src, dst = settings.bucket_for(from_env), settings.bucket_for(to_env)
    client = storage_client(to_env)
    report = CopyReport(dst)
    model = objects[-1].name
    prefix = model.rsplit("/", 1)[0]
    for other in client.list_blobs(dst, prefix=f"{prefix}/model."):
        if other.name != model:
            raise ArtifactExists(
                f"gs://{dst}/{other.name} already exists: the version holds a different model "
                f"file than gs://{src}/{model}; versions are immutable, upload a new version"
            )
    for obj in objects:
        source = _source_blob(src, obj, from_env)
        target = client.bucket(dst).get_blob(obj.name)
        if target is None:
            continue
        if _same(source, target):
            report.identical.append(obj.name)
        else:
            raise ArtifactExists(
                f"gs://{dst}/{obj.name} already exists with different content "
                f"(md5 {target.md5_hash}, {target.size} bytes; source md5 {source.md5_hash}, "
                f"{source.size} bytes): versions are immutable, upload a new version"
            )
    return report


def copy_version(objects: list[SourceObject], *, from_env: str, to_env: str) -> CopyReport:
    """Copy what is missing in the target bucket; identical objects are left as they are."""
    settings = get_settings()
    actor = settings.actor_name()
    src, dst = settings.bucket_for(from_env), settings.bucket_for(to_env)
    report = check_target(objects, from_env=from_env, to_env=to_env)
    for obj in objects:
        if obj.name in report.identical:
            continue
        source = _source_blob(src, obj, from_env)
        target = storage_client(to_env).bucket(dst).blob(obj.name)
        # The copy is registered as uploaded by the promoter; the original uploader is kept.
        original = dict(source.metadata or {})
        target.metadata = {
            **original,
            "uploader": actor,
            "original-uploader": original.get("uploader", ""),
            "promoted-from": f"gs://{src}/{obj.name}#{source.generation}",
        }
        target.content_type = source.content_type
        try:
            token, _, _ = target.rewrite(source, if_generation_match=0)
            while token is not None:
                token, _, _ = target.rewrite(source, token=token, if_generation_match=0)
        except gexc.PreconditionFailed:
            existing = storage_client(to_env).bucket(dst).get_blob(obj.name)
            if existing is None or not _same(source, existing):
                raise ArtifactExists(
                    f"gs://{dst}/{obj.name} was written by someone else during the copy; "
                    "not overwritten"
                ) from None
            report.identical.append(obj.name)
            continue
        report.copied.append(obj.name)
    return report


def _source_blob(bucket: str, obj: SourceObject, env: str) -> Any:
    blob = storage_client(env).bucket(bucket).get_blob(obj.name, generation=obj.generation)
    if blob is None:
        raise ObjectNotFound(
            f"gs://{bucket}/{obj.name} generation {obj.generation} (the one the registry "
            "recorded) no longer exists"
        )
    return blob


def _same(a: Any, b: Any) -> bool:
    return bool(a.md5_hash) and (a.md5_hash, a.size) == (b.md5_hash, b.size)
