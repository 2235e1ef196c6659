"""The job ledger: append-only facts about each prediction job, in
``mlsys_ops_{env}.prediction_shards``.

- ``plan``: the job's plan (written by the claim holder that submitted or started the job, so a
  job has exactly one; a retry with another request under the same id is refused);
- ``launch``: a Cloud Run execution started for the job;
- ``task``: task ``i`` staged ``rows`` rows in the staging table of its claim epoch;
- ``publish``: the job's rows reached the output (``rows``), once.

Every engine reads and writes the same facts, so a task of a relaunched execution, a retry of a
request and the publisher all see what is already done.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from dataclasses import dataclass, field
from typing import Any

from mlsys.clients import bigquery_client
from mlsys.errors import BackendUnavailable, JobNotFound
from mlsys.predict.plan import JobPlan
from mlsys.settings import check_env, get_settings
from mlsys.tables import ensure_schema_table

LEDGER_TABLE = "prediction_shards"


@dataclass(frozen=True)
class StagedShard:
    """Task ``index`` staged ``rows`` rows in the table of claim ``epoch``."""

    index: int
    rows: int
    epoch: int
    table: str
    shadow_table: str | None = None  # the challenger's staged rows (shadow jobs)
    monitoring: dict[str, Any] = field(default_factory=dict)  # drift profile, shadow figures


class Ledger:
    """The facts of the jobs of one environment."""

    def __init__(self, env: str) -> None:
        self.env = check_env(env)
        self.table_id = f"{get_settings().ops_dataset_ref(env)}.{LEDGER_TABLE}"
        self._ready = False

    def _ensure_table(self) -> None:
        if not self._ready:
            ensure_schema_table(bigquery_client(self.env), self.table_id, "prediction_shards.json")
            self._ready = True

    def append(self, job_id: str, kind: str, **values: Any) -> None:
        self._ensure_table()
        row = {"job_id": job_id, "kind": kind, **values}
        row["recorded_at"] = dt.datetime.now(dt.UTC).isoformat()
        errors = bigquery_client(self.env).insert_rows_json(self.table_id, [row])
        if errors:
            raise BackendUnavailable(f"could not record {kind} of job {job_id}: {errors}")

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

    # -- typed facts -------------------------------------------------------------------------
    def save_plan(self, plan: JobPlan) -> None:
        self.append(plan.job_id, "plan", payload=plan.to_json())

    def plan(self, job_id: str) -> JobPlan:
        plan = self.find_plan(job_id)
        if plan is None:
            raise JobNotFound(f"no prediction job {job_id!r} in {self.env}")
        return plan

    def find_plan(self, job_id: str) -> JobPlan | None:
        rows = self.rows(job_id, "plan")
        return JobPlan.from_json(rows[0]["payload"]) if rows else None

    def launched(self, job_id: str, execution: str) -> None:
        self.append(job_id, "launch", payload=json.dumps({"execution": execution}))

    def task_staged(self, job_id: str, shard: StagedShard, attempt: int) -> None:
        payload = json.dumps(
            {
                "epoch": shard.epoch,
                "table": shard.table,
                "shadow_table": shard.shadow_table,
                "monitoring": shard.monitoring,
            }
        )
        self.append(
            job_id,
            "task",
            task_index=shard.index,
            task_attempt=attempt,
            rows=shard.rows,
            payload=payload,
        )

    def staged(self, job_id: str) -> dict[int, StagedShard]:
        """The staged shards by task index (the highest epoch of each: its table is current)."""
        done: dict[int, StagedShard] = {}
        for row in self.rows(job_id, "task"):
            extra = json.loads(row.get("payload") or "{}")
            shard = StagedShard(
                int(row["task_index"]),
                int(row["rows"] or 0),
                int(extra.get("epoch", 0)),
                str(extra.get("table", "")),
                extra.get("shadow_table"),
                extra.get("monitoring") or {},
            )
            best = done.get(shard.index)
            if best is None or shard.epoch >= best.epoch:
                done[shard.index] = shard
        return done

    def mark_published(self, job_id: str, rows: int) -> None:
        self.append(job_id, "publish", rows=rows)

    def published(self, job_id: str) -> int | None:
        """Rows published by this job, or None if it has not published."""
        rows = self.rows(job_id, "publish")
        return int(rows[0]["rows"] or 0) if rows else None


@functools.cache
def ledger(env: str) -> Ledger:
    """The ledger of ``env``."""
    return Ledger(env)
