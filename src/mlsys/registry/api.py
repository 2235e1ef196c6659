"""Reading the registry: models, versions, search. Used by the CLI, the service and predict."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from typing import Any

from pydantic import BaseModel, Field, computed_field

from mlsys.errors import InvalidInput, ModelNotFound, VersionNotFound
from mlsys.registry.contract import check_model_name, parse_version
from mlsys.registry.records import STATUS_REGISTERED
from mlsys.registry.store import RegistryStore, registry_store
from mlsys.settings import check_env

MAX_PAGE = 500


class ModelVersion(BaseModel):
    """One current row of the ``model_registry`` view."""

    model_name: str
    model_version: int
    version_label: str
    environment: str | None = None
    gcs_bucket: str
    object_name: str
    artifact_uri: str
    artifact_format: str | None = None
    file_size_bytes: int | None = None
    generation: int | None = None
    md5_hash: str | None = None
    crc32c: str | None = None
    sha256: str | None = None
    upload_timestamp: dt.datetime | None = None
    uploader: str | None = None
    registered_at: dt.datetime | None = None
    status: str
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    metrics: dict[str, float] = Field(default_factory=dict)
    features: list[dict[str, str]] | None = None
    metadata: dict[str, Any] | None = None
    metadata_error: str | None = None
    duplicate_of: str | None = Field(
        None, description="a lower registered version with the same bytes (sha256), e.g. v1"
    )
    # The reference profile (profile.json) drift is measured against; None: no drift figures.
    profile_generation: int | None = None
    profile_sha256: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def has_profile(self) -> bool:
        """Whether the version has a registered reference profile."""
        return self.profile_sha256 is not None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ModelVersion:
        data = dict(row)
        data["metrics"] = _json(data.get("metrics")) or {}
        data["features"] = _json(data.get("features"))
        metadata = _json(data.get("metadata"))
        data["metadata"] = metadata if isinstance(metadata, dict) else None
        return cls.model_validate(data)


class ModelSummary(BaseModel):
    """A model in one environment: its latest registered version and counts."""

    model_name: str
    environment: str
    latest_version: int
    latest_version_label: str
    versions: int
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    metrics: dict[str, float] = Field(default_factory=dict)
    updated_at: dt.datetime | None = None
    duplicate_of: str | None = Field(None, description="the latest version repeats these bytes")


class ModelPage(BaseModel):
    models: list[ModelSummary]
    next_page_token: str | None = None


def _json(value: Any) -> Any:
    if value is None or isinstance(value, (dict, list)):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return None


def _store(env: str, store: RegistryStore | None) -> RegistryStore:
    return store or registry_store(check_env(env))


def list_versions(
    env: str, model_name: str, *, include_deleted: bool = True, store: RegistryStore | None = None
) -> list[ModelVersion]:
    """Every current version row of a model, oldest first; ModelNotFound if there is none."""
    check_model_name(model_name)
    rows = _store(env, store).current(model_name=model_name)
    versions = [ModelVersion.from_row(r) for r in rows]
    if not versions:
        raise ModelNotFound(f"model {model_name!r} is not registered in {env}")
    if not include_deleted:
        versions = [v for v in versions if v.status == STATUS_REGISTERED]
    return sorted(versions, key=lambda v: v.model_version)


def get_version(
    env: str, model_name: str, version: str | int = "latest", *, store: RegistryStore | None = None
) -> ModelVersion:
    """A registered version: ``vN``, ``N``, ``latest`` or an alias such as ``champion``."""
    spec = str(version).strip()
    live = list_versions(env, model_name, include_deleted=True, store=store)
    if spec == "latest":
        registered = [v for v in live if v.status == STATUS_REGISTERED]
        if not registered:
            raise VersionNotFound(
                f"model {model_name!r} has no registered version in {env} "
                "(every version was deleted)"
            )
        return registered[-1]
    if not spec[:1].isdigit() and not (spec[:1] == "v" and spec[1:2].isdigit()):
        from mlsys.registry.aliases import resolve_alias

        number = resolve_alias(env, model_name, spec)
    else:
        number = parse_version(spec)
    for row in live:
        if row.model_version == number:
            if row.status != STATUS_REGISTERED:
                raise VersionNotFound(
                    f"v{number} of {model_name!r} in {env} is {row.status}, not registered"
                )
            return row
    known = ", ".join(v.version_label for v in live if v.status == STATUS_REGISTERED) or "none"
    raise VersionNotFound(
        f"model {model_name!r} has no version v{number} in {env} (registered: {known})"
    )


def list_models(
    env: str,
    *,
    search: str | None = None,
    tags: list[str] | None = None,
    limit: int = 50,
    page_token: str | None = None,
    store: RegistryStore | None = None,
) -> ModelPage:
    """Models of an environment, by name, filtered by text (name/description) and tags."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
    after = _decode_token(page_token)
    rows = [ModelVersion.from_row(r) for r in _store(env, store).current()]
    by_model: dict[str, list[ModelVersion]] = {}
    for row in rows:
        if row.status == STATUS_REGISTERED:
            by_model.setdefault(row.model_name, []).append(row)
    needle = (search or "").strip().lower()
    wanted_tags = set(tags or [])
    summaries = []
    for name in sorted(by_model):
        if after is not None and name <= after:
            continue
        versions = sorted(by_model[name], key=lambda v: v.model_version)
        latest = versions[-1]
        text = f"{name}\n{latest.description or ''}".lower()
        if needle and needle not in text:
            continue
        if wanted_tags and not wanted_tags <= set(latest.tags):
            continue
        summaries.append(
            ModelSummary(
                model_name=name,
                environment=env,
                latest_version=latest.model_version,
                latest_version_label=latest.version_label,
                versions=len(versions),
                description=latest.description,
                tags=latest.tags,
                metrics=latest.metrics,
                updated_at=latest.registered_at,
                duplicate_of=latest.duplicate_of,
            )
        )
    page = summaries[:limit]
    token = _encode_token(page[-1].model_name) if len(summaries) > limit else None
    return ModelPage(models=page, next_page_token=token)


def wait_for_version(
    env: str,
    model_name: str,
    version: int,
    *,
    timeout: float = 30.0,
    store: RegistryStore | None = None,
) -> ModelVersion:
    """Poll until the function has registered ``version`` (e.g. right after an upload); raise
    :class:`~mlsys.errors.UploadRejected` with the reason as soon as the upload was refused."""
    from mlsys.registry.rejections import check_not_rejected

    deadline = time.monotonic() + timeout
    while True:
        try:
            return get_version(env, model_name, version, store=store)
        except (ModelNotFound, VersionNotFound):
            check_not_rejected(env, model_name, parse_version(version), store=store)
            if time.monotonic() > deadline:
                raise
        time.sleep(0.1)


def _encode_token(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")


def _decode_token(token: str | None) -> str | None:
    if not token:
        return None
    try:
        name = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        return check_model_name(name)
    except Exception:
        raise InvalidInput(
            f"invalid page_token {token!r}: pass the next_page_token of a previous page"
        ) from None
