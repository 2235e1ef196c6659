"""The plan of a sharded prediction job, and the append-only table that records it.

The launcher writes ONE plan per job id (what to read, which model version, how the input is
split into ``task_count`` shards); every task reads it back, so all tasks agree without any
argument but ``--job-id``. Tasks then append one ``task`` row each when their shard is staged,
and the publisher appends one ``publish`` row. The rows live in
``mlsys_ops_{env}.prediction_shards``.

Two ways to split the input, both deterministic (a retried task reads exactly the same rows):

- ``streams``: one BigQuery Storage Read session for the whole job, created by the launcher
  with ``max_stream_count = task_count``; task ``i`` reads streams ``i, i+N, ...``. BigQuery may
  return fewer streams than asked (small tables): then some tasks stage nothing.
- ``hash``: when the session has a single stream (small tables, or the local emulator, which
  always answers with one), each task opens its own session restricted to
  ``COALESCE(ABS(MOD(FARM_FINGERPRINT(CAST(key AS STRING)), N)), 0) = i`` — ``key`` is a
  validated column name, ``N`` and ``i`` integers: no user text reaches the restriction.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import functools
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa

from mlsys.clients import bigquery_client
from mlsys.errors import ConfigError, JobNotFound
from mlsys.identifiers import check_column
from mlsys.predict.jobs import BigQueryJobStore
from mlsys.settings import check_env, get_settings
from mlsys.tables import ensure_schema_table

log = logging.getLogger(__name__)

SHARDS_TABLE = "prediction_shards"
#: Most tasks one job may have (Cloud Run Jobs allow up to 10,000; this bounds the publish SQL).
MAX_TASKS = 1000

Split = Literal["streams", "hash"]


@dataclass(frozen=True)
class ShardPlan:
    """Everything a task needs to predict its shard; written once by the launcher."""

    job_id: str
    env: str
    input_table: str
    output_table: str
    model_name: str
    model_version: int
    id_columns: tuple[str, ...]
    columns: tuple[str, ...]  # read from the input: features + id columns
    write_disposition: str
    task_count: int
    split: Split
    streams: tuple[str, ...] = ()
    arrow_schema: str | None = None  # base64 of the session's serialized Arrow schema
    shard_key: str | None = None
    chunk_rows: int | None = None
    rows_total: int | None = None
    created_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def __post_init__(self) -> None:
        if not 1 <= self.task_count <= MAX_TASKS:
            raise ConfigError(
                f"task count must be between 1 and {MAX_TASKS}, got {self.task_count}"
            )
        if self.split == "hash" and self.task_count > 1 and not self.shard_key:
            raise ConfigError("a hash split needs a shard key column (e.g. the row id)")
        if self.shard_key:
            check_column(self.shard_key)

    def streams_of(self, index: int) -> tuple[str, ...]:
        """The read streams of task ``index`` (``streams`` split)."""
        return self.streams[index :: self.task_count]

    def stream_schema(self) -> pa.Schema | None:
        """The Arrow schema of the job session's streams (``streams`` split)."""
        if not self.arrow_schema:
            return None
        return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(self.arrow_schema)))

    def row_restriction(self, index: int) -> str | None:
        """The Storage Read API row filter of task ``index`` (``hash`` split)."""
        if self.split != "hash" or self.task_count == 1:
            return None
        key = check_column(self.shard_key or "")
        n, i = int(self.task_count), int(index)
        return f"COALESCE(ABS(MOD(FARM_FINGERPRINT(CAST(`{key}` AS STRING)), {n})), 0) = {i}"

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        data["created_at"] = self.created_at.isoformat()
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> ShardPlan:
        data: dict[str, Any] = json.loads(text)
        data["created_at"] = dt.datetime.fromisoformat(data["created_at"])
        for key in ("id_columns", "columns", "streams"):
            data[key] = tuple(data.get(key) or ())
        return cls(**data)


@dataclass(frozen=True)
class TaskResult:
    index: int
    rows: int


class ShardStore:
    """Append-only rows of sharded jobs: ``plan``, ``launch``, ``task`` and ``publish``."""

    def __init__(self, env: str) -> None:
        self.env = check_env(env)
        self.table_id = f"{get_settings().ops_dataset_ref(env)}.{SHARDS_TABLE}"
        self._ready = False

    def _ensure_table(self) -> None:
        if self._ready:
            return
        ensure_schema_table(bigquery_client(self.env), self.table_id, "prediction_shards.json")
        self._ready = True

    def append(self, job_id: str, kind: str, **values: Any) -> None:
        self._ensure_table()
        row = {"job_id": job_id, "kind": kind, **values}
        row["recorded_at"] = dt.datetime.now(dt.UTC).isoformat()
        errors = bigquery_client(self.env).insert_rows_json(self.table_id, [row])
        if errors:
            raise ConfigError(f"could not record {kind} of job {job_id}: {errors}")

    def rows(self, job_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        """The rows of one job (optionally of one kind), oldest first."""
        from google.cloud import bigquery

        self._ensure_table()
        params = [bigquery.ScalarQueryParameter("job_id", "STRING", job_id)]
        where = "job_id = @job_id"
        if kind is not None:
            params.append(bigquery.ScalarQueryParameter("kind", "STRING", kind))
            where += " AND kind = @kind"
        sql = f"SELECT * FROM `{self.table_id}` WHERE {where} ORDER BY recorded_at"
        config = bigquery.QueryJobConfig(query_parameters=params)
        result = bigquery_client(self.env).query(sql, job_config=config).result()
        return [dict(row.items()) for row in result]

    # -- typed helpers ---------------------------------------------------------------------
    def save_plan(self, plan: ShardPlan) -> None:
        self.append(plan.job_id, "plan", payload=plan.to_json())

    def plan(self, job_id: str) -> ShardPlan:
        rows = self.rows(job_id, "plan")
        if not rows:
            raise JobNotFound(f"no sharded prediction job {job_id!r} in {self.env}")
        return ShardPlan.from_json(rows[0]["payload"])  # the first plan is the plan

    def task_done(self, job_id: str, index: int, attempt: int, rows: int) -> None:
        self.append(job_id, "task", task_index=index, task_attempt=attempt, rows=rows)

    def tasks_done(self, job_id: str) -> dict[int, TaskResult]:
        """The staged shards by task index (the latest attempt of each wins)."""
        done: dict[int, TaskResult] = {}
        for row in self.rows(job_id, "task"):
            done[int(row["task_index"])] = TaskResult(int(row["task_index"]), int(row["rows"]))
        return done

    def published(self, job_id: str) -> int | None:
        """Rows published by this job, or None if it has not published."""
        rows = self.rows(job_id, "publish")
        return int(rows[0]["rows"] or 0) if rows else None


@functools.cache
def shard_store(env: str) -> ShardStore:
    """The shard store of ``env``."""
    return ShardStore(env)


def job_records(env: str) -> BigQueryJobStore:
    """The prediction job records (``GET /jobs/{id}``) as every instance sees them.

    A fresh store each time, not the cached :func:`mlsys.predict.jobs.job_store`: that one
    answers from this process's memory for jobs it saved, but a sharded job's progress is
    written by the task processes, so it must be read from BigQuery.
    """
    return BigQueryJobStore(env)
