"""The ONE publish of every job: all staged shards into the output, once, in one transaction.

Whoever finds every shard staged (the last task of an execution, or the service after its one
shard) takes the job's ``publish`` claim and runs ONE BigQuery job:

- ``append``: ``INSERT INTO output SELECT ... FROM (shard UNION ALL ...) WHERE NOT EXISTS (rows
  of this job_id)``;
- ``truncate``: ``BEGIN TRANSACTION; DELETE FROM output WHERE TRUE; INSERT ...; COMMIT`` — the
  output keeps its schema (no copy job replacing it), the same on both engines.

Exactly once, even when a publisher stalls past its lease and a successor takes over: the
publish job's id is deterministic per claim epoch (``mlsys-publish-{job}-e{N}``), and BigQuery
never runs two jobs with one id. A successor first settles every earlier epoch's job id — waits
for it if it exists (and adopts its result if it published), or burns the id with a no-op job so
the stale publisher can never run it. The output table is created (with the plan's schema) only
here, right before the publish. Afterwards the job's staging and claim tables are dropped (they
carry an expiry in case a drop fails).
"""

from __future__ import annotations

import logging
from typing import Any

from google.api_core import exceptions as gexc

from mlsys.clients import bigquery_client
from mlsys.errors import BackendUnavailable
from mlsys.identifiers import TableRef, check_column, parse_table_id
from mlsys.monitoring.job import record_job_monitoring
from mlsys.predict.claims import Claim, ClaimHeld, ClaimLost, holding
from mlsys.predict.ledger import StagedShard, ledger
from mlsys.predict.plan import JobPlan
from mlsys.predict.records import JobStatus, job_store, transition
from mlsys.predict.staging import drop_table
from mlsys.schema import bq_schema
from mlsys.settings import get_settings

log = logging.getLogger(__name__)


def publish_job_id(job_id: str, epoch: int) -> str:
    return f"mlsys-publish-{job_id}-e{epoch}"


def publish_if_complete(plan: JobPlan, *, wait: bool = True) -> int | None:
    """Publish the job if every shard is staged; rows published, or None if not (yet) ours.

    ``wait``: when another worker holds the publish, wait for it to finish (or to die, then
    take over) instead of returning at once.
    """
    book = ledger(plan.env)
    published = book.published(plan.job_id)
    if published is not None:
        _record_success(plan, published, published)  # a publisher that died before recording
        return None
    staged = book.staged(plan.job_id)
    if len(staged) < plan.tasks:
        log.info("job %s: %d of %d shards staged", plan.job_id, len(staged), plan.tasks)
        return None
    claim = Claim(plan.env, plan.job_id, "publish")
    try:
        with holding(claim, wait_s=float("inf") if wait else 0.0):
            published = book.published(plan.job_id)
            if published is not None:  # the holder before us published (and cleaned up)
                _record_success(plan, published, published)
                claim.release()
                return None
            shards = [staged[i] for i in range(plan.tasks)]
            try:
                claim.renew()  # fencing, also before the shadow's rows
                _publish_shadow(plan, shards)  # before the main output: mlsys.monitoring.shadow
                rows = _publish(plan, shards, claim)
            except ClaimLost:
                raise
            except BaseException:
                # Free the part at once (keeping its epoch, so the next publish job id is new):
                # a retry need not wait for the lease to run out.
                _free(claim)
                raise
            book.mark_published(plan.job_id, rows)
            record_job_monitoring(plan, [s.monitoring for s in shards])
            _record_success(plan, rows, sum(s.rows for s in staged.values()))
    except ClaimHeld:
        return None
    cleanup(plan)
    log.info("job %s published %d rows into %s", plan.job_id, rows, plan.output_table)
    return rows


def _free(claim: Claim) -> None:
    try:
        claim.renew(state="done")
    except Exception as exc:  # its lease runs out anyway
        log.warning("job %s: could not free the publish claim: %s", claim.job_id, exc)


def _publish(plan: JobPlan, shards: list[StagedShard], claim: Claim) -> int:
    client = bigquery_client(plan.env)
    for epoch in range(1, claim.epoch):
        earlier = _settle(client, publish_job_id(plan.job_id, epoch))
        if earlier is not None:  # a predecessor's publish went through: adopt it
            return earlier if plan.write_disposition == "append" else sum(s.rows for s in shards)
    created = _ensure_output(plan)
    claim.renew()  # fencing: raises ClaimLost if a successor took over meanwhile
    columns = [f.name for f in plan.schema()]
    tables = [s.table for s in shards]
    sql, params = statement(plan.output_ref, columns, tables, plan.write_disposition, plan.job_id)
    try:
        job = client.query(
            sql,
            job_config=_config(params),
            job_id=publish_job_id(plan.job_id, claim.epoch),
            job_retry=None,  # one id, one job: a failed publish is retried under the next epoch
        )
        job.result()
    except gexc.GoogleAPIError as exc:
        if created:
            drop_table(plan.env, plan.output_table)  # created for this publish, still empty
        raise BackendUnavailable(f"publishing job {plan.job_id} failed: {exc}") from exc
    if plan.write_disposition == "append":
        return int(job.num_dml_affected_rows or 0)
    return sum(s.rows for s in shards)


def _settle(client: Any, job_id: str) -> int | None:
    """Make sure the publish job ``job_id`` can never run later; its rows if it published."""
    from google.cloud import bigquery

    for _ in range(3):
        try:
            job = client.get_job(job_id)
        except gexc.NotFound:
            try:  # burn the id: the stale publisher's job can no longer be created
                client.query("SELECT 1", job_id=job_id, job_retry=None).result()
                return None
            except gexc.Conflict:
                continue  # it was just created: look again
        try:
            job.result()
        except gexc.GoogleAPIError:
            return None  # it failed: nothing was published
        if isinstance(job, bigquery.QueryJob) and job.query != "SELECT 1":
            return int(job.num_dml_affected_rows or 0)
        return None
    raise BackendUnavailable(f"cannot settle the earlier publish {job_id}")


def _ensure_output(plan: JobPlan) -> bool:
    """Create the output with the plan's schema if it is missing; True if this call did."""
    from google.cloud import bigquery

    client = bigquery_client(plan.env)
    try:
        client.get_table(plan.output_table)
        return False
    except gexc.NotFound:
        pass
    table = bigquery.Table(plan.output_table, schema=bq_schema(plan.schema()))
    table.description = f"mlsys batch predictions of {plan.model_name}"
    client.create_table(table, exists_ok=True)
    return True


def statement(
    output: TableRef, names: list[str], tables: list[str], disposition: str, job_id: str
) -> tuple[str, list[Any]]:
    """The statement that publishes the staged ``tables`` into ``output``: ``append`` inserts
    only if no row of ``job_id`` is there yet (a repeated publish adds nothing), ``truncate``
    replaces the rows in one transaction. Public for ``bench/predict.py``."""
    from google.cloud import bigquery

    columns = ", ".join(f"`{check_column(name)}`" for name in names)
    staged = " UNION ALL ".join(f"SELECT {columns} FROM `{table}`" for table in tables)
    if disposition == "truncate":
        sql = (
            "BEGIN TRANSACTION; "
            f"DELETE FROM {output.sql} WHERE TRUE; "
            f"INSERT INTO {output.sql} ({columns}) SELECT {columns} FROM ({staged}) AS staged; "
            "COMMIT TRANSACTION;"
        )
        return sql, []
    sql = (
        f"INSERT INTO {output.sql} ({columns}) "
        f"SELECT {columns} FROM ({staged}) AS staged "
        f"WHERE NOT EXISTS (SELECT 1 FROM {output.sql} WHERE job_id = @job_id)"
    )
    return sql, [bigquery.ScalarQueryParameter("job_id", "STRING", job_id)]


def _publish_shadow(plan: JobPlan, shards: list[StagedShard]) -> None:
    """The challenger's rows into ``{output}__shadow``, the same way (idempotent: a retried
    append finds the job's rows there, a retried truncate replaces them again)."""
    from google.cloud import bigquery

    tables = [s.shadow_table for s in shards if s.shadow_table]
    if not plan.shadow_table or not tables:
        return
    client = bigquery_client(plan.env)
    fields = client.get_table(tables[0]).schema
    try:
        client.get_table(plan.shadow_table)
    except gexc.NotFound:
        table = bigquery.Table(plan.shadow_table, schema=fields)
        table.description = f"mlsys shadow predictions of {plan.model_name} v{plan.shadow_version}"
        client.create_table(table, exists_ok=True)
    sql, params = statement(
        parse_table_id(plan.shadow_table),
        [f.name for f in fields],
        tables,
        plan.write_disposition,
        plan.job_id,
    )
    client.query(sql, job_config=_config(params)).result()


def _config(params: list[Any]) -> Any:
    from google.cloud import bigquery

    return bigquery.QueryJobConfig(query_parameters=params)


def _record_success(plan: JobPlan, rows: int, rows_done: int) -> None:
    store = job_store(plan.env)
    record = store.get(plan.job_id)
    if record is not None and record.status != JobStatus.SUCCEEDED:
        transition(store, record, JobStatus.SUCCEEDED, rows_done=rows_done, rows_written=rows)


def cleanup(plan: JobPlan, *, failed: bool = False) -> list[str]:
    """Drop the job's staging and claim tables (the publish claim last); returns their ids.

    After a failure the publish claims stay (they expire): their epochs keep counting, so a
    retry's publish gets a BigQuery job id never used before; the shards' claims go, so a
    retry stages at once."""
    client = bigquery_client(plan.env)
    ops = get_settings().ops_dataset_ref(plan.env)
    prefixes: tuple[str, ...] = (f"stage__{plan.job_id}__", f"claim__{plan.job_id}__")
    if failed:
        prefixes = (f"stage__{plan.job_id}__", f"claim__{plan.job_id}__task")
    tables = [t.table_id for t in client.list_tables(ops) if t.table_id.startswith(prefixes)]
    tables.sort(key=lambda name: "__publish__" in name)
    for name in tables:
        drop_table(plan.env, f"{ops}.{name}")
    return tables
