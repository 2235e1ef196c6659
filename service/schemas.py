"""Response models of the prediction API (the request model is the library's
:class:`mlsys.predict.PredictionRequest`, validated once at the edge)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import Path, Query
from pydantic import BaseModel, Field

from mlsys.predict.records import JOB_ID_RE, JobRecord
from mlsys.registry.contract import MODEL_NAME_RE
from mlsys.settings import ENVIRONMENTS, Environment

# The closed sets and formats below are documented in the OpenAPI and enforced by the library's
# own checks (check_env, check_model_name, check_job_id), so each keeps its error code.
ENV_SCHEMA: dict[str, Any] = {"enum": [*ENVIRONMENTS, None]}
MODEL_NAME_SCHEMA: dict[str, Any] = {"pattern": MODEL_NAME_RE.pattern}
JOB_ID_SCHEMA: dict[str, Any] = {"pattern": JOB_ID_RE.pattern}

EnvQuery = Annotated[
    str | None,
    Query(description="dev, staging or prod (default: MLSYS_ENV)", json_schema_extra=ENV_SCHEMA),
]
ModelName = Annotated[
    str,
    Path(
        description="lowercase letters, digits and hyphens, starting with a letter",
        json_schema_extra=MODEL_NAME_SCHEMA,
    ),
]
JobId = Annotated[
    str,
    Path(description="1-64 letters, digits, '-' or '_', no '__'", json_schema_extra=JOB_ID_SCHEMA),
]


class JobError(BaseModel):
    error: str
    message: str


class ShadowSummary(BaseModel):
    """How the shadow version compared with the job's version on the same rows."""

    shadow_version: int
    shadow_table: str | None
    agreement_metric: str | None = Field(None, description="label_agreement | mean_abs_diff")
    shadow_agreement: float | None
    js_distance: float | None = Field(None, description="between the prediction distributions")


class JobResponse(BaseModel):
    """A prediction job: its status and counts (``POST /predict``, ``GET /jobs/{job_id}``)."""

    job_id: str
    env: Environment
    status: Literal["queued", "running", "succeeded", "failed", "stalled"]
    input_table: str
    output_table: str
    model_name: str
    model_version: int | None
    write_disposition: Literal["append", "truncate"]
    engine: Literal["service", "job"] | None = None
    tasks: int | None = None
    execution: str | None = None
    rows_total: int | None
    rows_done: int
    rows_written: int
    error: JobError | None = None
    created_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None = None
    drift_status: Literal["ok", "warn", "alert"] | None = Field(
        None, description="worst drift status of the job's features (None: no reference profile)"
    )
    shadow: ShadowSummary | None = None

    @classmethod
    def of(cls, record: JobRecord, monitoring: dict[str, Any] | None = None) -> JobResponse:
        error = None
        if record.error_code:
            error = JobError(error=record.error_code, message=record.error_message or "")
        return cls(
            job_id=record.job_id,
            env=record.env,
            status=record.status,
            input_table=record.input_table,
            output_table=record.output_table,
            model_name=record.model_name,
            model_version=record.model_version,
            write_disposition=record.write_disposition,
            engine=record.engine,
            tasks=record.tasks,
            execution=record.execution,
            rows_total=record.rows_total,
            rows_done=record.rows_done,
            rows_written=record.rows_written,
            error=error,
            created_at=record.created_at,
            updated_at=record.updated_at,
            finished_at=record.finished_at,
            **_monitoring(monitoring),
        )


# -- online prediction (documents POST /models/{name}/versions/{version}:predict) ---------------
class OnlineRequest(BaseModel):
    """Rows as objects (``instances``), or column names once and rows as lists."""

    instances: list[dict[str, Any]] | None = Field(
        None, description="one object per row: {feature: value}; null for a missing value"
    )
    columns: list[str] | None = Field(None, description="feature names, with data")
    data: list[list[Any]] | None = Field(None, description="rows, values in `columns` order")


class OnlineResponse(BaseModel):
    predictions: list[Any] = Field(..., description="one label or value per instance")
    probabilities: list[list[float]] | None = Field(
        None, description="classifiers: per instance, one probability per class of `classes`"
    )
    classes: list[Any] | None = Field(None, description="classifiers: the class labels")
    model_version: int = Field(..., description="the version that answered (N)")


def _monitoring(found: dict[str, Any] | None) -> dict[str, Any]:
    """The response fields of :func:`mlsys.monitoring.job.job_summary`."""
    if not found:
        return {}
    shadow = found.get("shadow")
    return {
        "drift_status": found.get("drift_status"),
        "shadow": ShadowSummary.model_validate(shadow.model_dump()) if shadow else None,
    }
