"""Request and response models of the prediction API."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mlsys.predict.jobs import JobRecord


class PredictRequest(BaseModel):
    """What to predict: the seed's parameters plus options (``POST /predict`` body)."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    env: str | None = Field(None, description="dev, staging or prod (default: the service's)")
    input_table: str = Field(..., description="project.dataset.table to read")
    output_table: str = Field(..., description="project.dataset.table to write (created)")
    model_name: str
    model_version: str = Field("latest", description="vN, N, latest or an alias")
    id_columns: list[str] | None = Field(
        None, description="copied to the output (default: every input column not a feature)"
    )
    write_disposition: Literal["append", "truncate"] = "append"
    job_id: str | None = Field(
        None, description="letters, digits, - and _; a retry with the same id never duplicates"
    )
    run_async: bool = Field(
        False, alias="async", description="return at once; follow GET /jobs/{job_id}"
    )
    shadow_version: str | None = Field(
        None,
        description="a challenger version (vN, N or an alias) scoring the same rows into "
        "{output_table}__shadow; the job records how often it agrees",
    )

    @field_validator("write_disposition", mode="before")
    @classmethod
    def _disposition(cls, value: Any) -> Any:
        if isinstance(value, str):
            return value.strip().lower().removeprefix("write_")
        return value

    def pipeline_args(self, default_env: str) -> dict[str, Any]:
        """Keyword arguments of :func:`mlsys.predict.run_prediction`."""
        return {
            "env": self.env or default_env,
            "input_table": self.input_table,
            "output_table": self.output_table,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "id_columns": self.id_columns,
            "write_disposition": self.write_disposition,
            "job_id": self.job_id,
            "shadow_version": self.shadow_version,
        }


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
    env: str
    status: Literal["running", "succeeded", "failed"]
    input_table: str
    output_table: str
    model_name: str
    model_version: int | None
    write_disposition: str
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
            rows_total=record.rows_total,
            rows_done=record.rows_done,
            rows_written=record.rows_written,
            error=error,
            created_at=record.created_at,
            updated_at=record.updated_at,
            finished_at=record.finished_at,
            **_monitoring(monitoring),
        )


def _monitoring(found: dict[str, Any] | None) -> dict[str, Any]:
    """The response fields of :func:`mlsys.monitoring.job.job_summary`."""
    if not found:
        return {}
    shadow = found.get("shadow")
    return {
        "drift_status": found.get("drift_status"),
        "shadow": ShadowSummary.model_validate(shadow.model_dump()) if shadow else None,
    }
