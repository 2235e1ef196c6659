"""Batch prediction BigQuery -> BigQuery for any scikit-learn (or ONNX) model, streaming and
idempotent. Entry points: :func:`run_prediction` (now) and :func:`start_prediction` (in the
background, followed through :func:`get_job`)."""

from mlsys.predict.jobs import JobRecord, JobStatus, job_store
from mlsys.predict.pipeline import prepare_prediction, run_prediction, start_prediction

__all__ = [
    "JobRecord",
    "JobStatus",
    "get_job",
    "job_store",
    "prepare_prediction",
    "run_prediction",
    "start_prediction",
]


def get_job(env: str, job_id: str) -> JobRecord:
    """The latest record of a job; :class:`~mlsys.errors.JobNotFound` if there is none."""
    from mlsys.errors import JobNotFound
    from mlsys.predict.jobs import check_job_id
    from mlsys.settings import check_env

    record = job_store(check_env(env)).get(check_job_id(job_id))
    if record is None:
        raise JobNotFound(f"no prediction job {job_id!r} in {env}")
    return record
