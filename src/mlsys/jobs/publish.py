"""The last step of a sharded job: move every task's staged rows into the output at once.

Run by whichever task finds all shards staged (or by ``publish_if_complete`` from an operator
after a crash). Safe against doubles three ways:

1. a ``publish`` row in the shard store: a job that published never publishes again;
2. a claim table ``{output}__job_{J}_publish`` created WITHOUT ``exists_ok``: when two tasks
   finish at the same moment, BigQuery lets only one create it (409 for the other);
3. the publish itself is ONE query job — ``INSERT ... SELECT ... UNION ALL ... WHERE NOT
   EXISTS (rows of this job_id)`` for ``append``, ``DELETE`` + ``INSERT`` in one multi-statement
   transaction for ``truncate`` — so the output gets every shard or
   none.
"""

from __future__ import annotations

import logging

from google.api_core import exceptions as gexc

from mlsys.clients import bigquery_client
from mlsys.identifiers import TableRef, check_column, parse_table_id
from mlsys.jobs.plan import ShardPlan, job_records, shard_store
from mlsys.jobs.shard import task_table
from mlsys.predict.jobs import JobStatus, now
from mlsys.settings import get_settings

log = logging.getLogger(__name__)


def claim_table(output: TableRef, job_id: str) -> TableRef:
    return output.with_table(f"{output.table}__job_{job_id}_publish"[:1024])


def publish_if_complete(plan: ShardPlan, *, force_claim: bool = False) -> int | None:
    """Publish the job if every task staged its shard; rows published, or None if not now.

    ``force_claim`` takes over a claim left by a publisher that crashed (operator use only).
    """
    store = shard_store(plan.env)
    if store.published(plan.job_id) is not None:
        return None
    done = store.tasks_done(plan.job_id)
    if len(done) < plan.task_count:
        log.info("job %s: %d of %d shards staged", plan.job_id, len(done), plan.task_count)
        return None
    output = parse_table_id(plan.output_table, default_project=get_settings().project_for(plan.env))
    claim = claim_table(output, plan.job_id)
    if not _claim(claim, plan.job_id, plan.env) and not force_claim:
        log.info("job %s: another task is publishing", plan.job_id)
        return None
    try:
        rows = _publish(plan, output)
    except BaseException:
        _drop(claim, plan.env)  # let a retry publish
        raise
    store.append(plan.job_id, "publish", rows=rows)
    _record_success(plan, rows, sum(t.rows for t in done.values()))
    for index in range(plan.task_count):
        _drop(task_table(output, plan.job_id, index), plan.env)
    _drop(claim, plan.env)
    log.info("job %s published %d rows into %s", plan.job_id, rows, output)
    return rows


def _claim(claim: TableRef, job_id: str, env: str) -> bool:
    from google.cloud import bigquery

    table = bigquery.Table(str(claim), schema=[bigquery.SchemaField("job_id", "STRING")])
    table.description = f"mlsys: job {job_id} is being published (dropped when done)"
    try:
        bigquery_client(env).create_table(table)
    except gexc.Conflict:
        return False
    return True


def _publish(plan: ShardPlan, output: TableRef) -> int:
    from google.cloud import bigquery

    client = bigquery_client(plan.env)
    tables = [task_table(output, plan.job_id, i) for i in range(plan.task_count)]
    schema = client.get_table(str(tables[0])).schema
    columns = ", ".join(f"`{check_column(f.name)}`" for f in schema)
    staged = " UNION ALL ".join(f"SELECT {columns} FROM {t.sql}" for t in tables)
    if plan.write_disposition == "truncate":
        # One multi-statement transaction: readers see the old rows or all the new ones. (A
        # multi-source copy job would do on BigQuery, but the emulator keeps one source.)
        client.query(
            "BEGIN TRANSACTION; "
            f"DELETE FROM {output.sql} WHERE TRUE; "
            f"INSERT INTO {output.sql} ({columns}) SELECT {columns} FROM ({staged}) AS staged; "
            "COMMIT TRANSACTION;"
        ).result()
        return sum(int(client.get_table(str(t)).num_rows or 0) for t in tables)
    sql = (
        f"INSERT INTO {output.sql} ({columns}) "
        f"SELECT {columns} FROM ({staged}) AS staged "
        f"WHERE NOT EXISTS (SELECT 1 FROM {output.sql} WHERE job_id = @job_id)"
    )
    config = bigquery.QueryJobConfig(
        query_parameters=[bigquery.ScalarQueryParameter("job_id", "STRING", plan.job_id)]
    )
    job = client.query(sql, job_config=config)
    job.result()
    return int(job.num_dml_affected_rows or 0)


def _record_success(plan: ShardPlan, rows: int, rows_done: int) -> None:
    jobs = job_records(plan.env)
    record = jobs.get(plan.job_id)
    if record is None:
        return
    record.status = JobStatus.SUCCEEDED
    record.rows_done, record.rows_written = rows_done, rows
    record.error_code = record.error_message = None
    record.updated_at = record.finished_at = now()
    jobs.save(record)


def _drop(table: TableRef, env: str) -> None:
    try:
        bigquery_client(env).delete_table(str(table), not_found_ok=True)
    except gexc.GoogleAPIError as exc:  # the output is already right; say so and go on
        log.warning("could not drop %s: %s", table, exc)
