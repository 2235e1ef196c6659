"""``/jobs/{job_id}``: status, row counts and error of a prediction job."""

from __future__ import annotations

from fastapi import APIRouter

from mlsys.errors import InvalidEnvironment, InvalidIdentifier, JobNotFound
from mlsys.predict import get_job
from service.deps import SettingsDep
from service.openapi import GOOGLE, error_responses
from service.schemas import EnvQuery, JobId, JobResponse

router = APIRouter(tags=["predict"])


@router.get(
    "/jobs/{job_id}",
    response_model=JobResponse,
    responses=error_responses(InvalidIdentifier, InvalidEnvironment, JobNotFound, GOOGLE),
)
def job_status(job_id: JobId, settings: SettingsDep, env: EnvQuery = None) -> JobResponse:
    """The latest status of a job, from any instance of the service."""
    return JobResponse.of(get_job(env or settings.mlsys_env, job_id))
