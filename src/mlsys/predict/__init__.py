"""Batch prediction BigQuery -> BigQuery for any scikit-learn (or ONNX) model: one typed
request (:class:`PredictionRequest`), one plan, two engines (this process, or a Cloud Run Job
execution), exactly once under retries, concurrency and crashes. See ``docs/predict.md`` and
``docs/reliability.md``.

Names are imported on first use: the service starts (a Cloud Run cold start) without loading
pyarrow, numpy and the BigQuery clients until a request needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlsys._lazy import lazy_attributes

if TYPE_CHECKING:
    from mlsys.predict.engines import Submission, get_job, submit
    from mlsys.predict.records import JobRecord, JobStatus, job_store
    from mlsys.predict.request import Engine, PredictionRequest, WriteDisposition
    from mlsys.predict.stream import Progress

__all__ = [
    "Engine",
    "JobRecord",
    "JobStatus",
    "PredictionRequest",
    "Submission",
    "WriteDisposition",
    "get_job",
    "job_store",
    "run_prediction",
    "submit",
]

_WHERE = {
    "Submission": "engines",
    "get_job": "engines",
    "submit": "engines",
    "JobRecord": "records",
    "JobStatus": "records",
    "job_store": "records",
    "Engine": "request",
    "PredictionRequest": "request",
    "WriteDisposition": "request",
}


__getattr__ = lazy_attributes(__name__, _WHERE)


def run_prediction(*, progress: Progress | None = None, **request: Any) -> JobRecord:
    """Predict now in this process (the ``service`` engine); returns the finished record.

    ``request`` holds the fields of :class:`PredictionRequest` (``env``, ``input_table``,
    ``output_table``, ``model_name``, ``model_version``, ``job_id``, ...).
    """
    from mlsys.predict.engines import submit
    from mlsys.predict.request import PredictionRequest

    return submit(PredictionRequest.parse(request), progress=progress).record
