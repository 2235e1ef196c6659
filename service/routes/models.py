"""The registry over HTTP: ``/models`` and the seed's ``/model-registry``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from mlsys.errors import (
    ArtifactPathError,
    BackendUnavailable,
    InvalidEnvironment,
    InvalidInput,
    InvalidVersion,
    ModelNotFound,
    VersionNotFound,
)
from mlsys.promote.lifecycle import ModelVersionState, with_state
from mlsys.registry import (
    ModelPage,
    Rejection,
    get_version,
    list_models,
    list_rejections,
    list_versions,
)
from mlsys.registry.sync import sync_bucket
from service.deps import SettingsDep
from service.openapi import GOOGLE, INVALID_REQUEST, error_responses
from service.schemas import EnvQuery, ModelName

router = APIRouter(tags=["registry"])

#: Every registry read: a bad parameter, the registry table missing, Google's own errors.
READ_ERRORS = (INVALID_REQUEST, InvalidEnvironment, BackendUnavailable, GOOGLE)


@router.get(
    "/models", response_model=ModelPage, responses=error_responses(READ_ERRORS, InvalidInput)
)
def models(
    settings: SettingsDep,
    env: EnvQuery = None,
    search: Annotated[str | None, Query(description="Text in name or description")] = None,
    tag: Annotated[list[str] | None, Query(description="Required tags (repeat)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    page_token: str | None = None,
) -> ModelPage:
    return list_models(
        env or settings.mlsys_env, search=search, tags=tag, limit=limit, page_token=page_token
    )


# Declared before /models/{name}, which would otherwise take "rejections" for a model name.
@router.get(
    "/models/rejections", response_model=list[Rejection], responses=error_responses(READ_ERRORS)
)
def rejections(
    settings: SettingsDep,
    env: EnvQuery = None,
    search: Annotated[str | None, Query(description="Text in the object name")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[Rejection]:
    """Uploads the registry refused (wrong path, unknown file, ...), newest first, and why."""
    return list_rejections(env or settings.mlsys_env, search=search, limit=limit)


@router.get(
    "/models/{name}", responses=error_responses(READ_ERRORS, ArtifactPathError, ModelNotFound)
)
def model(name: ModelName, settings: SettingsDep, env: EnvQuery = None) -> dict[str, Any]:
    env = env or settings.mlsys_env
    versions = list_versions(env, name)
    registered = [v for v in versions if v.status == "registered"]
    return {
        "model_name": name,
        "environment": env,
        "latest": registered[-1] if registered else None,
        "versions": [v.version_label for v in versions],
    }


@router.get(
    "/models/{name}/versions",
    response_model=list[ModelVersionState],
    responses=error_responses(READ_ERRORS, ArtifactPathError, ModelNotFound),
)
def versions(
    name: ModelName, settings: SettingsDep, env: EnvQuery = None
) -> list[ModelVersionState]:
    """Every version of the model in the env, with whether it was archived there."""
    env = env or settings.mlsys_env
    return with_state(env, list_versions(env, name))


@router.get(
    "/models/{name}/versions/{version}",
    response_model=ModelVersionState,
    responses=error_responses(
        READ_ERRORS, ArtifactPathError, InvalidVersion, ModelNotFound, VersionNotFound
    ),
)
def version(
    name: ModelName, version: str, settings: SettingsDep, env: EnvQuery = None
) -> ModelVersionState:
    """One version (vN, N, latest or an alias), with whether it was archived in the env."""
    env = env or settings.mlsys_env
    return with_state(env, [get_version(env, name, version)])[0]


@router.get("/model-registry", responses=error_responses(READ_ERRORS, ArtifactPathError))
def model_registry(settings: SettingsDep, env: EnvQuery = None) -> dict[str, Any]:
    """The seed's endpoint: the registry, and what of the bucket it has not recorded yet.

    Read-only: the service may only read the registry (its Terraform grants). Registration is
    the function's job; objects its events missed are listed as ``pending_*`` for an operator's
    ``mlsys registry sync``.
    """
    env = env or settings.mlsys_env
    report = sync_bucket(env, dry_run=True)
    page = list_models(env, limit=500)
    return {
        "environment": env,
        "bucket": report.bucket,
        "scanned": report.scanned,
        "pending_registration": report.registered,
        "pending_rejection": report.rejected,
        "pending_deletion": report.deleted,
        "models": [m.model_dump(mode="json") for m in page.models],
    }
