"""Drift and shadow figures over HTTP: per job and per model (the console reads the same)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from mlsys.errors import ArtifactPathError, InvalidEnvironment, InvalidIdentifier, JobNotFound
from mlsys.monitoring.store import DriftRow, ShadowRow, job_drift, model_drift, shadows
from mlsys.registry.contract import check_model_name
from mlsys.settings import check_env
from service.deps import SettingsDep
from service.openapi import GOOGLE, INVALID_REQUEST, error_responses
from service.schemas import EnvQuery, JobId, ModelName

router = APIRouter(tags=["monitoring"])


@router.get(
    "/jobs/{job_id}/drift",
    response_model=list[DriftRow],
    responses=error_responses(
        INVALID_REQUEST, InvalidIdentifier, InvalidEnvironment, JobNotFound, GOOGLE
    ),
)
def drift_of_job(job_id: JobId, settings: SettingsDep, env: EnvQuery = None) -> list[DriftRow]:
    """One row per feature (and one for the predictions) of a finished job."""
    from mlsys.predict.engines import get_job  # on first use (a cold start stays light)

    env = env or settings.mlsys_env

    get_job(env, job_id)  # JOB_NOT_FOUND (404) for an unknown job, not an empty list
    return job_drift(env, job_id)


@router.get(
    "/models/{name}/drift",
    response_model=list[DriftRow],
    responses=error_responses(INVALID_REQUEST, ArtifactPathError, InvalidEnvironment, GOOGLE),
)
def drift_of_model(
    name: ModelName,
    settings: SettingsDep,
    env: EnvQuery = None,
    jobs: Annotated[int, Query(ge=1, le=200, description="latest jobs with drift")] = 10,
) -> list[DriftRow]:
    """Drift rows of the model's latest jobs, oldest first."""
    return model_drift(check_env(env or settings.mlsys_env), check_model_name(name), jobs=jobs)


@router.get(
    "/models/{name}/shadows",
    response_model=list[ShadowRow],
    responses=error_responses(INVALID_REQUEST, ArtifactPathError, InvalidEnvironment, GOOGLE),
)
def shadows_of_model(
    name: ModelName,
    settings: SettingsDep,
    env: EnvQuery = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[ShadowRow]:
    """Challenger-vs-champion comparisons of the model's shadow jobs, newest first."""
    env = check_env(env or settings.mlsys_env)
    return shadows(env, model_name=check_model_name(name), limit=limit)
