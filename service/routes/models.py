"""The registry over HTTP: ``/models`` and the seed's ``/model-registry``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from mlsys.registry import ModelPage, ModelVersion, get_version, list_models, list_versions
from mlsys.registry.sync import sync_bucket
from service.deps import SettingsDep

router = APIRouter(tags=["registry"])

EnvQuery = Annotated[str | None, Query(description="dev, staging or prod (default: MLSYS_ENV)")]


@router.get("/models", response_model=ModelPage)
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


@router.get("/models/{name}")
def model(name: str, settings: SettingsDep, env: EnvQuery = None) -> dict[str, Any]:
    env = env or settings.mlsys_env
    versions = list_versions(env, name)
    registered = [v for v in versions if v.status == "registered"]
    return {
        "model_name": name,
        "environment": env,
        "latest": registered[-1] if registered else None,
        "versions": [v.version_label for v in versions],
    }


@router.get("/models/{name}/versions", response_model=list[ModelVersion])
def versions(name: str, settings: SettingsDep, env: EnvQuery = None) -> list[ModelVersion]:
    return list_versions(env or settings.mlsys_env, name)


@router.get("/models/{name}/versions/{version}", response_model=ModelVersion)
def version(name: str, version: str, settings: SettingsDep, env: EnvQuery = None) -> ModelVersion:
    return get_version(env or settings.mlsys_env, name, version)


@router.get("/model-registry")
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
