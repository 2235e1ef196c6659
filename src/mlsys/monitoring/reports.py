"""What the API, the CLI and the console show about jobs: one set of functions for all three."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlsys.monitoring.store import (
    DriftRow,
    ShadowRow,
    drift_of_jobs,
    job_drift,
    recent_jobs,
    shadows,
    worst_status,
)
from mlsys.predict.records import JobRecord, JobStatus


@dataclass
class JobReport:
    """A job's record with its drift rows and shadow comparison (when it recorded them)."""

    record: JobRecord
    drift: list[DriftRow] = field(default_factory=list)
    shadow: ShadowRow | None = None

    @property
    def drift_status(self) -> str | None:
        return worst_status(self.drift)

    def summary(self) -> dict[str, Any]:
        """The monitoring fields of ``GET /jobs/{id}``."""
        return {"drift_status": self.drift_status, "shadow": self.shadow}


def job_report(env: str, record: JobRecord) -> JobReport:
    """Drift and shadow figures of one job (only a succeeded job has any)."""
    if record.status != JobStatus.SUCCEEDED:
        return JobReport(record)
    found = shadows(env, job_ids=[record.job_id], limit=1)
    return JobReport(record, job_drift(env, record.job_id), found[0] if found else None)


def job_reports(
    env: str, *, model_name: str | None = None, version: int | None = None, limit: int = 50
) -> list[JobReport]:
    """The newest jobs (of a model, of a version) with their figures, in three queries."""
    records = recent_jobs(env, model_name=model_name, version=version, limit=limit)
    ids = [r.job_id for r in records if r.status == JobStatus.SUCCEEDED]
    drift = drift_of_jobs(env, ids)
    shadow = {s.job_id: s for s in shadows(env, job_ids=ids, limit=len(ids))} if ids else {}
    return [JobReport(r, drift.get(r.job_id, []), shadow.get(r.job_id)) for r in records]


def drift_by_feature(rows: list[DriftRow]) -> dict[str, list[DriftRow]]:
    """Rows grouped per feature (the prediction last), each oldest job first."""
    grouped: dict[str, list[DriftRow]] = {}
    for row in sorted(rows, key=lambda r: (r.role == "prediction", r.created_at)):
        grouped.setdefault(row.feature, []).append(row)
    return grouped
