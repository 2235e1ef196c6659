"""Where monitoring figures live: append-only rows in the env's ops dataset.

- ``mlsys_ops_{env}.prediction_drift``: one row per feature (and one for the predictions) per
  job, keyed ``{job_id}/{feature}``;
- ``mlsys_ops_{env}.prediction_shadow``: one row per shadow job, keyed by the job id.

Both are written once, after the job's output was published, by streaming inserts with
deterministic row ids (a retried write is dropped by BigQuery, and readers keep one row per
key), and created on first use like the job tables (schemas in ``mlsys/schemas``).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from google.api_core import exceptions as gexc
from pydantic import BaseModel, Field

from mlsys.clients import bigquery_client
from mlsys.monitoring.config import worst
from mlsys.settings import check_env, get_settings
from mlsys.tables import append_rows, ensure_schema_table

DRIFT_TABLE = "prediction_drift"
SHADOW_TABLE = "prediction_shadow"
JOBS_TABLE = "prediction_jobs"  # written by mlsys.predict.records; read here for listings


class DriftRow(BaseModel):
    """One feature's drift in one job (``GET /jobs/{id}/drift``, the console, the CLI)."""

    job_id: str
    model_name: str
    model_version: int
    feature: str
    role: str
    kind: str | None = None
    psi: float | None = None
    js_distance: float | None = None
    null_rate: float | None = None
    reference_null_rate: float | None = None
    rows: int | None = None
    status: str
    labels: list[str] = Field(default_factory=list)
    reference: list[float] = Field(default_factory=list)
    current: list[float] = Field(default_factory=list)
    created_at: dt.datetime

    def to_row(self) -> dict[str, Any]:
        row = self.model_dump(exclude={"labels", "reference", "current"}, mode="json")
        row["distribution"] = json.dumps(
            {"labels": self.labels, "reference": self.reference, "current": self.current}
        )
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> DriftRow:
        data = dict(row)
        data.update(_distribution(data.pop("distribution", None)))
        return cls.model_validate(data)


class ShadowRow(BaseModel):
    """How a challenger compared with the champion on one job's rows."""

    job_id: str
    model_name: str
    model_version: int
    shadow_version: int
    output_table: str | None = None
    shadow_table: str | None = None
    rows: int | None = None
    agreement_metric: str | None = None
    shadow_agreement: float | None = None
    psi: float | None = None
    js_distance: float | None = None
    labels: list[str] = Field(default_factory=list)
    champion: list[float] = Field(default_factory=list)
    challenger: list[float] = Field(default_factory=list)
    created_at: dt.datetime

    def to_row(self) -> dict[str, Any]:
        row = self.model_dump(exclude={"labels", "champion", "challenger"}, mode="json")
        row["distribution"] = json.dumps(
            {"labels": self.labels, "champion": self.champion, "challenger": self.challenger}
        )
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ShadowRow:
        data = dict(row)
        data.update(_distribution(data.pop("distribution", None)))
        return cls.model_validate(data)


def _distribution(raw: str | None) -> dict[str, Any]:
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def table_id(env: str, table: str) -> str:
    return f"{get_settings().ops_dataset_ref(check_env(env))}.{table}"


# -- writes ---------------------------------------------------------------------------------------
def record_drift(env: str, rows: list[DriftRow]) -> None:
    """Append a job's drift rows (keyed ``{job_id}/{feature}``: a retried write adds nothing)."""
    _append(env, DRIFT_TABLE, [r.to_row() for r in rows], [f"{r.job_id}/{r.feature}" for r in rows])


def record_shadow(env: str, row: ShadowRow) -> None:
    """Append a job's shadow comparison (keyed by the job id)."""
    _append(env, SHADOW_TABLE, [row.to_row()], [row.job_id])


def _append(env: str, table: str, rows: list[dict[str, Any]], keys: list[str]) -> None:
    client = bigquery_client(env)
    target = table_id(env, table)
    ensure_schema_table(client, target, f"{table}.json")
    append_rows(client, target, rows, keys, what=f"{table} rows")


# -- reads ----------------------------------------------------------------------------------------
def _query(env: str, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    from google.cloud import bigquery

    config = bigquery.QueryJobConfig(query_parameters=params)
    try:
        rows = bigquery_client(env).query(sql, job_config=config).result()
    except gexc.NotFound:  # nothing recorded in this environment yet
        return []
    return [dict(r.items()) for r in rows]


def _param(name: str, kind: str, value: Any) -> Any:
    from google.cloud import bigquery

    if isinstance(value, list):
        return bigquery.ArrayQueryParameter(name, kind, value)
    return bigquery.ScalarQueryParameter(name, kind, value)


def drift_of_jobs(env: str, job_ids: list[str]) -> dict[str, list[DriftRow]]:
    """The drift rows of each job (features in recorded order, the prediction last)."""
    if not job_ids:
        return {}
    sql = (
        f"SELECT * FROM `{table_id(env, DRIFT_TABLE)}` WHERE job_id IN UNNEST(@jobs) "
        "ORDER BY created_at, role, feature"
    )
    found: dict[str, dict[str, DriftRow]] = {}
    for raw in _query(env, sql, [_param("jobs", "STRING", list(job_ids))]):
        row = DriftRow.from_row(raw)
        found.setdefault(row.job_id, {}).setdefault(row.feature, row)  # drop duplicates
    return {job: list(rows.values()) for job, rows in found.items()}


def job_drift(env: str, job_id: str) -> list[DriftRow]:
    return drift_of_jobs(env, [job_id]).get(job_id, [])


def model_drift(env: str, model_name: str, *, jobs: int = 10) -> list[DriftRow]:
    """Drift rows of the model's latest ``jobs`` jobs that recorded drift, oldest first."""
    table = table_id(env, DRIFT_TABLE)
    sql = (
        f"WITH latest AS (SELECT job_id, MAX(created_at) AS last_at FROM `{table}` "
        "WHERE model_name = @model GROUP BY job_id ORDER BY last_at DESC LIMIT @jobs) "
        f"SELECT d.* FROM `{table}` AS d JOIN latest AS l ON d.job_id = l.job_id "
        "ORDER BY d.created_at, d.job_id, d.role, d.feature"
    )
    params = [_param("model", "STRING", model_name), _param("jobs", "INT64", jobs)]
    seen: dict[tuple[str, str], DriftRow] = {}
    for raw in _query(env, sql, params):
        row = DriftRow.from_row(raw)
        seen.setdefault((row.job_id, row.feature), row)
    return list(seen.values())


def shadows(
    env: str, *, job_ids: list[str] | None = None, model_name: str | None = None, limit: int = 50
) -> list[ShadowRow]:
    """Shadow comparisons of some jobs, or of a model's latest jobs; newest first."""
    where, params = [], [_param("limit", "INT64", limit)]
    if job_ids is not None:
        where.append("job_id IN UNNEST(@jobs)")
        params.append(_param("jobs", "STRING", list(job_ids)))
    if model_name is not None:
        where.append("model_name = @model")
        params.append(_param("model", "STRING", model_name))
    sql = (
        f"SELECT * FROM `{table_id(env, SHADOW_TABLE)}` WHERE {' AND '.join(where) or 'TRUE'} "
        "ORDER BY created_at DESC LIMIT @limit"
    )
    seen: dict[str, ShadowRow] = {}
    for raw in _query(env, sql, params):
        seen.setdefault(raw["job_id"], ShadowRow.from_row(raw))
    return list(seen.values())


def worst_status(rows: list[DriftRow]) -> str | None:
    return worst(tuple(r.status for r in rows))


def recent_jobs(
    env: str, *, model_name: str | None = None, version: int | None = None, limit: int = 50
) -> list[Any]:
    """The latest record of the newest jobs (of a model, of one version), newest first."""
    from mlsys.predict.records import JobRecord

    where, params = ["TRUE"], [_param("limit", "INT64", limit)]
    if model_name is not None:
        where.append("model_name = @model")
        params.append(_param("model", "STRING", model_name))
    if version is not None:
        where.append("model_version = @version")
        params.append(_param("version", "INT64", version))
    sql = (
        "SELECT * EXCEPT (pos) FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY job_id "
        f"ORDER BY updated_at DESC) AS pos FROM `{table_id(env, JOBS_TABLE)}` "
        f"WHERE {' AND '.join(where)}) WHERE pos = 1 ORDER BY created_at DESC LIMIT @limit"
    )
    return [JobRecord.from_row(r) for r in _query(env, sql, params)]
