"""One shard of a job: claim it, stream its rows through the model, stage them, record it.

The same function stages the single shard of a job the service runs and each shard of a Cloud
Run Job execution. Whoever holds the shard's claim does the work; a shard already staged is
never staged again (a relaunched execution, a retried task, a retried request); a holder whose
lease ran out stops without recording (its successor stages the shard in a table of its own).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

from mlsys.errors import MlsysError
from mlsys.predict.claims import Claim, holding
from mlsys.predict.features import check_input, plan_features
from mlsys.predict.ledger import StagedShard, ledger
from mlsys.predict.output import plan_output
from mlsys.predict.plan import JobPlan, PlannedJob, resolve_model, stream_schema
from mlsys.predict.records import (
    PROGRESS_INTERVAL_S,
    JobRecord,
    JobStatus,
    fail,
    job_store,
    transition,
)
from mlsys.predict.sources import BigQueryReadSource
from mlsys.predict.staging import StagingWriter, stage_table
from mlsys.predict.stream import Progress, predict_stream

log = logging.getLogger(__name__)


def prepare(plan: JobPlan) -> PlannedJob:
    """What a task process needs beyond the stored plan: the verified model and its plans."""
    # The plan refused an archived version unless allowed: the tasks run what it accepted.
    model = resolve_model(plan.env, plan.model_name, plan.model_version, allow_archived=True)
    features = plan_features(model.model, model.metadata)
    output = plan_output(
        input_schema=plan.schema(),
        id_columns=list(plan.id_columns),
        model=model.model,
        model_name=model.model_name,
        model_version=model.version,
        job_id=plan.job_id,
    )
    # One timestamp for the whole job, whichever task writes the row.
    output = dataclasses.replace(output, schema=plan.schema(), timestamp=plan.created_at)
    return PlannedJob(plan, model, features, output)


def stage_shard(
    planned: PlannedJob,
    index: int,
    *,
    attempt: int = 0,
    wait: bool = False,
    start: Callable[[], Progress | None] | None = None,
    progress: Progress | None = None,
) -> StagedShard | None:
    """Stage shard ``index`` unless it is staged already; None when there was nothing to do.

    ``wait``: a live holder of the shard (another execution of the job) is waited for, as a
    Cloud Run task does; otherwise it raises :class:`~mlsys.predict.claims.ClaimHeld` (409),
    as a request does. ``start`` runs once the shard is this worker's to stage (e.g. to record
    the job as running) and may return a progress callback.
    """
    plan = planned.plan
    book = ledger(plan.env)
    claim = Claim(plan.env, plan.job_id, f"task{index}")
    with holding(claim, wait_s=float("inf") if wait else 0.0):
        if book.published(plan.job_id) is not None or _still_staged(plan, index):
            log.info("job %s: shard %d is done already", plan.job_id, index)
            claim.release()
            return None
        table = stage_table(plan.env, plan.job_id, index, claim.epoch)
        shadow_table = f"{table}__shadow" if plan.shadow_version is not None else None
        beat = start() if start is not None else None
        rows, found = _stream(
            planned,
            index,
            StagingWriter(plan.env, table),
            StagingWriter(plan.env, shadow_table) if shadow_table else None,
            claim,
            _both(beat, progress),
        )
        claim.renew()  # fencing: a successor took over while we streamed -> ClaimLost
        shard = StagedShard(index, rows, claim.epoch, table, shadow_table, found)
        book.task_staged(plan.job_id, shard, attempt)
    claim.release()
    log.info("job %s: shard %d staged %d rows in %s", plan.job_id, index, rows, table)
    return shard


def _still_staged(plan: JobPlan, index: int) -> bool:
    """Whether shard ``index`` was staged and its table is still there (a failed run in the
    service drops its staging tables: a retry stages the shard again, under a new epoch)."""
    from google.api_core import exceptions as gexc

    from mlsys.clients import bigquery_client

    shard = ledger(plan.env).staged(plan.job_id).get(index)
    if shard is None:
        return False
    try:
        bigquery_client(plan.env).get_table(shard.table)
    except gexc.NotFound:
        log.info("job %s: shard %d's staging table is gone: staging it again", plan.job_id, index)
        return False
    return True


def _stream(
    planned: PlannedJob,
    index: int,
    writer: StagingWriter,
    shadow_writer: StagingWriter | None,
    claim: Claim,
    progress: Progress | None,
) -> tuple[int, dict[str, Any]]:
    """Stream the shard into ``writer``; its rows, and what its monitors found (drift
    profile, shadow comparison) for the ledger."""
    from mlsys.monitoring.job import shard_monitor

    plan = planned.plan
    source = BigQueryReadSource(
        plan.input_ref,
        chunk_rows=plan.chunk_rows,
        env=plan.env,
        row_restriction=plan.row_restriction(index),
        streams=plan.streams_of(index) if plan.split == "streams" else None,
        stream_schema=stream_schema(plan),
    )
    check_input(source.schema, planned.features)
    monitor = shard_monitor(planned, source.schema, shadow_writer)

    def on_progress(done: int, total: int | None) -> None:
        claim.check()  # stop early once someone else holds the shard
        if progress is not None:
            progress(done, plan.rows_total if plan.tasks == 1 else total)

    result = predict_stream(
        model=planned.model.model,
        features=planned.features,
        output=planned.output,
        source=source,
        sink=writer,
        progress=on_progress,
        observers=monitor.observers,
    )
    return result.rows_written, monitor.payload()


def _both(*callbacks: Progress | None) -> Progress:
    def call(done: int, total: int | None) -> None:
        for callback in callbacks:
            if callback is not None:
                callback(done, total)

    return call


def heartbeat(record: JobRecord, base: int = 0) -> Callable[[int, int | None], None]:
    """A progress callback that records ``running`` with the rows done, every few seconds."""
    store = job_store(record.env)
    current = [record]
    last = [0.0]

    def beat(done: int, total: int | None) -> None:
        if time.monotonic() - last[0] < PROGRESS_INTERVAL_S:
            return
        last[0] = time.monotonic()
        current[0] = transition(store, current[0], JobStatus.RUNNING, rows_done=base + done)

    return beat


def record_failure(record: JobRecord, index: int, attempt: int, exc: BaseException) -> None:
    """A shard that failed marks the job failed (Cloud Run may still retry the task)."""
    where = f"task {index} (attempt {attempt}): " if record.tasks and record.tasks > 1 else ""
    if isinstance(exc, MlsysError) and exc.code == "JOB_TAKEN_OVER":
        return  # not a failure of the job: its successor goes on
    fail(job_store(record.env), record, exc, where=where)
