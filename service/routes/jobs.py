"""``/jobs``: status, row counts, error, drift status and shadow comparison of prediction jobs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from mlsys.errors import InvalidEnvironment, InvalidIdentifier, JobNotFound
from mlsys.monitoring.reports import job_report, job_reports
from mlsys.predict.records import JobRecord
from mlsys.settings import check_env
from service.deps import SettingsDep
from service.openapi import GOOGLE, INVALID_REQUEST, error_responses
from service.schemas import EnvQuery, JobId, JobResponse

router = APIRouter(tags=["predict"])


def job_response(env: str, record: JobRecord) -> JobResponse:
    """A job's response with its worst drift status and shadow comparison, once finished."""
    return JobResponse.of(record, job_report(env, record).summary())


@router.get(
    "/jobs/{job_id}",
    response_model=JobResponse,
    responses=error_responses(InvalidIdentifier, InvalidEnvironment, JobNotFound, GOOGLE),
)
def job_status(job_id: JobId, settings: SettingsDep, env: EnvQuery = None) -> JobResponse:
    """The latest status of a job, from any instance of the service or any task of its
    execution; ``stalled`` when its worker stopped heartbeating (retry the request)."""
    from mlsys.predict.engines import get_job

    env = env or settings.mlsys_env
    return job_response(env, get_job(env, job_id))


@router.get(
    "/jobs",
    response_model=list[JobResponse],
    responses=error_responses(INVALID_REQUEST, InvalidEnvironment, GOOGLE),
)
def jobs(
    settings: SettingsDep,
    env: EnvQuery = None,
    model: Annotated[str | None, Query(description="only this model's jobs")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[JobResponse]:
    """The newest prediction jobs of an environment, newest first."""
    env = check_env(env or settings.mlsys_env)
    return [
        JobResponse.of(r.record, r.summary())
        for r in job_reports(env, model_name=model, limit=limit)
    ]
