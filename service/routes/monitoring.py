"""Drift and shadow figures over HTTP: per job and per model (the console reads the same)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from mlsys.monitoring.store import DriftRow, ShadowRow, job_drift, model_drift, shadows
from mlsys.registry.contract import check_model_name
from mlsys.settings import check_env
from service.deps import SettingsDep

router = APIRouter(tags=["monitoring"])


@router.get("/jobs/{job_id}/drift", response_model=list[DriftRow])
def drift_of_job(job_id: str, settings: SettingsDep, env: str | None = None) -> list[DriftRow]:
    """One row per feature (and one for the predictions) of a finished job."""
    env = env or settings.mlsys_env
    from mlsys.predict.engines import get_job  # on first use (a cold start stays light)

    get_job(env, job_id)  # JOB_NOT_FOUND (404) for an unknown job, not an empty list
    return job_drift(env, job_id)


@router.get("/models/{name}/drift", response_model=list[DriftRow])
def drift_of_model(
    name: str,
    settings: SettingsDep,
    env: str | None = None,
    jobs: Annotated[int, Query(ge=1, le=200, description="latest jobs with drift")] = 10,
) -> list[DriftRow]:
    """Drift rows of the model's latest jobs, oldest first."""
    return model_drift(check_env(env or settings.mlsys_env), check_model_name(name), jobs=jobs)


@router.get("/models/{name}/shadows", response_model=list[ShadowRow])
def shadows_of_model(
    name: str,
    settings: SettingsDep,
    env: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[ShadowRow]:
    """Challenger-vs-champion comparisons of the model's shadow jobs, newest first."""
    env = check_env(env or settings.mlsys_env)
    return shadows(env, model_name=check_model_name(name), limit=limit)
