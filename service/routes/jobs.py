"""``/jobs/{job_id}``: status, row counts and error of a prediction job."""

from __future__ import annotations

from fastapi import APIRouter

from mlsys.predict import get_job
from service.deps import SettingsDep
from service.schemas import JobResponse

router = APIRouter(tags=["predict"])


@router.get("/jobs/{job_id}", response_model=JobResponse)
def job_status(job_id: str, settings: SettingsDep, env: str | None = None) -> JobResponse:
    """The latest status of a job, from any instance of the service."""
    return JobResponse.of(get_job(env or settings.mlsys_env, job_id))
