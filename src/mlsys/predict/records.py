"""Prediction job records: status, counts, errors; the stores that keep them, and the ONE set
of state transitions every engine uses.

Several service instances and job tasks must agree on a job's state, so the store of record is
BigQuery: append-only status rows in ``mlsys_ops_{env}.prediction_jobs``, the latest row per job
wins. :class:`MemoryJobStore` is the same Protocol in memory (benchmarks, unit tests).

States: ``queued`` (accepted, an execution will run it) -> ``running`` (a holder of the job's
claim streams it and heartbeats) -> ``succeeded`` | ``failed``. A ``running`` record that has not
been updated for two leases belongs to a worker that died: it reads as ``stalled``, and a retry
with the same ``job_id`` takes the job over (:mod:`mlsys.predict.claims`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
import re
import threading
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from google.api_core import exceptions as gexc

from mlsys.clients import bigquery_client
from mlsys.errors import InvalidIdentifier, MlsysError
from mlsys.settings import check_env, get_settings
from mlsys.tables import ensure_schema_table

log = logging.getLogger(__name__)

JOB_ID_RE = re.compile(r"^(?!.*__)[A-Za-z0-9_-]{1,64}$")
JOBS_TABLE = "prediction_jobs"
#: Running jobs heartbeat their record this often (rows done so far).
PROGRESS_INTERVAL_S = 5.0


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    #: Reported, never stored: a running record whose worker stopped heartbeating.
    STALLED = "stalled"


TERMINAL = (JobStatus.SUCCEEDED, JobStatus.FAILED)


def check_job_id(job_id: str) -> str:
    """A job id of letters, digits, ``-`` and ``_`` (it names claim and staging tables)."""
    if not isinstance(job_id, str) or not JOB_ID_RE.match(job_id):
        raise InvalidIdentifier(
            f"invalid job_id {job_id!r}: expected 1-64 letters, digits, '-' or '_' "
            "(no '__', which mlsys reserves)"
        )
    return job_id


def new_job_id() -> str:
    return f"{dt.datetime.now(dt.UTC):%Y%m%d%H%M%S}-{uuid.uuid4().hex[:12]}"


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class JobRecord:
    """The state of one prediction job, as reported by ``GET /jobs/{job_id}``."""

    job_id: str
    env: str
    status: str
    input_table: str
    output_table: str
    model_name: str
    model_version: int | None = None
    write_disposition: str = "append"
    rows_total: int | None = None
    rows_done: int = 0
    rows_written: int = 0
    error_code: str | None = None
    error_message: str | None = None
    created_at: dt.datetime = field(default_factory=now)
    updated_at: dt.datetime = field(default_factory=now)
    finished_at: dt.datetime | None = None
    engine: str | None = None
    tasks: int | None = None
    execution: str | None = None

    def to_row(self) -> dict[str, Any]:
        row = dataclasses.asdict(self)
        for key in ("created_at", "updated_at", "finished_at"):
            if row[key] is not None:
                row[key] = row[key].isoformat()
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> JobRecord:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in row.items() if k in names})

    def reported(self, lease_s: float) -> JobRecord:
        """This record as a reader should see it: ``stalled`` when its worker went silent."""
        silent = (now() - self.updated_at).total_seconds()
        if self.status == JobStatus.RUNNING and silent > 2 * lease_s:
            return dataclasses.replace(self, status=JobStatus.STALLED)
        return self


class JobStore(Protocol):
    def save(self, record: JobRecord) -> None: ...

    def get(self, job_id: str) -> JobRecord | None: ...


class MemoryJobStore:
    """Job records in this process only."""

    def __init__(self) -> None:
        self._records: dict[str, JobRecord] = {}
        self._lock = threading.Lock()

    def save(self, record: JobRecord) -> None:
        with self._lock:
            self._records[record.job_id] = dataclasses.replace(record)

    def get(self, job_id: str) -> JobRecord | None:
        with self._lock:
            record = self._records.get(job_id)
            return dataclasses.replace(record) if record else None


class BigQueryJobStore:
    """Append-only status rows in ``mlsys_ops_{env}.prediction_jobs``; the latest row wins."""

    def __init__(self, env: str) -> None:
        self.env = check_env(env)
        self.table_id = f"{get_settings().ops_dataset_ref(env)}.{JOBS_TABLE}"
        self._ready = False

    def _ensure_table(self) -> None:
        if self._ready:
            return
        ensure_schema_table(bigquery_client(self.env), self.table_id, "prediction_jobs.json")
        self._ready = True

    def save(self, record: JobRecord) -> None:
        self._ensure_table()
        errors = bigquery_client(self.env).insert_rows_json(self.table_id, [record.to_row()])
        if errors:
            log.error("could not record job %s: %s", record.job_id, errors)

    def get(self, job_id: str) -> JobRecord | None:
        from google.cloud import bigquery

        self._ensure_table()
        config = bigquery.QueryJobConfig(
            query_parameters=[bigquery.ScalarQueryParameter("job_id", "STRING", job_id)]
        )
        sql = (
            f"SELECT * FROM `{self.table_id}` WHERE job_id = @job_id "
            "ORDER BY updated_at DESC LIMIT 1"
        )
        try:
            rows = list(bigquery_client(self.env).query(sql, job_config=config).result())
        except gexc.NotFound:
            return None
        return JobRecord.from_row(dict(rows[0].items())) if rows else None


@functools.cache
def job_store(env: str) -> JobStore:
    """The job store of ``env`` (the one place that chooses the implementation)."""
    return BigQueryJobStore(env)


# -- the one set of transitions -------------------------------------------------------------
def transition(store: JobStore, record: JobRecord, status: JobStatus, **changes: Any) -> JobRecord:
    """Append the next state of a job and return it (every engine goes through here)."""
    updated = dataclasses.replace(record, status=status, updated_at=now(), **changes)
    if status in TERMINAL:
        updated.finished_at = updated.updated_at
    if status != JobStatus.FAILED:
        updated.error_code = updated.error_message = None
    store.save(updated)
    return updated


def fail(store: JobStore, record: JobRecord, exc: BaseException, *, where: str = "") -> JobRecord:
    """Record a failure with the error's code and message (never raises)."""
    code = exc.code if isinstance(exc, MlsysError) else "INTERNAL"
    message = exc.message if isinstance(exc, MlsysError) else repr(exc)[:900]
    try:
        latest = store.get(record.job_id)
        if latest is not None and latest.status == JobStatus.SUCCEEDED:
            # A stale worker failing after its successor published: the job stays succeeded.
            log.warning(
                "job %s succeeded; not recording %s from a stale worker", record.job_id, code
            )
            return latest
        return transition(
            store,
            record,
            JobStatus.FAILED,
            error_code=code,
            error_message=f"{where}{message}",
        )
    except Exception as save_error:  # the job's own error matters more than its record
        log.warning("could not record the failure of job %s: %s", record.job_id, save_error)
        return dataclasses.replace(record, status=JobStatus.FAILED)
