"""Batch prediction BigQuery -> BigQuery: resolve and verify the model, check the input, stream
chunks through it, publish the output once. The service and the CLI are thin shells over
:func:`run_prediction` / :func:`start_prediction`.
"""

from __future__ import annotations

import contextvars
import dataclasses
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mlsys.artifacts import ArtifactRef, load_model
from mlsys.errors import JobConflict, MlsysError
from mlsys.identifiers import parse_table_id
from mlsys.logs import log_context
from mlsys.monitoring.job import JobMonitor, prepare_monitor
from mlsys.predict.features import FeaturePlan, check_input, default_id_columns, plan_features
from mlsys.predict.jobs import (
    PROGRESS_INTERVAL_S,
    JobRecord,
    JobStatus,
    JobStore,
    check_job_id,
    job_store,
    new_job_id,
    now,
)
from mlsys.predict.output import RESERVED, OutputPlan, check_id_columns, plan_output
from mlsys.predict.sinks import DISPOSITIONS, BigQuerySink, check_output_target, staging_ref
from mlsys.predict.sources import BigQueryReadSource
from mlsys.predict.stream import Progress, predict_stream
from mlsys.schema import bq_schema
from mlsys.settings import check_env, get_settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResolvedModel:
    model: Any
    model_name: str
    version: int
    metadata: dict[str, Any] | None
    artifact_uri: str
    row: Any = None  # the registry's ModelVersion (its reference profile, for drift)


@dataclass
class PreparedJob:
    """Everything checked and loaded; :func:`execute` only streams and publishes."""

    record: JobRecord
    store: JobStore
    model: ResolvedModel | None = None
    features: FeaturePlan | None = None
    output: OutputPlan | None = None
    source: BigQueryReadSource | None = None
    sink: BigQuerySink | None = None
    reused: bool = False  # the job id already published: nothing to do
    monitor: JobMonitor | None = None  # drift profile and shadow scoring (mlsys.monitoring)


def resolve_model(
    env: str, model_name: str, model_version: str | int, *, allow_archived: bool = False
) -> ResolvedModel:
    """The registry's version, loaded from the env's bucket after verifying its bytes; an
    archived version is refused (:class:`~mlsys.errors.VersionArchived`) unless allowed."""
    from mlsys.promote.lifecycle import check_not_archived
    from mlsys.registry import get_version

    mv = get_version(env, model_name, model_version)
    if not allow_archived:
        check_not_archived(env, mv)
    loaded = load_model(ArtifactRef.from_version(mv), allowed_bucket=get_settings().bucket_for(env))
    metadata = mv.metadata or ({"features": mv.features} if mv.features else None)
    return ResolvedModel(
        loaded.model, mv.model_name, mv.model_version, metadata, mv.artifact_uri, row=mv
    )


def prepare_prediction(
    *,
    env: str,
    input_table: str,
    output_table: str,
    model_name: str,
    model_version: str | int = "latest",
    id_columns: Sequence[str] | None = None,
    write_disposition: str = "append",
    job_id: str | None = None,
    store: JobStore | None = None,
    chunk_rows: int | None = None,
    allow_archived: bool = False,
    shadow_version: str | int | None = None,
) -> PreparedJob:
    """Validate the request and load what the job needs; user errors surface here."""
    check_env(env)
    settings = get_settings()
    project = settings.project_for(env)
    source_ref = parse_table_id(input_table, default_project=project)
    output_ref = parse_table_id(output_table, default_project=project)
    if write_disposition not in DISPOSITIONS:
        from mlsys.errors import InvalidInput

        raise InvalidInput(
            f"write_disposition {write_disposition!r}: expected one of {', '.join(DISPOSITIONS)}"
        )
    retry = job_id is not None
    job_id = check_job_id(job_id) if job_id is not None else new_job_id()
    staging_ref(output_ref, job_id)  # the output's name leaves room for the job's table
    if id_columns is not None:
        id_columns = check_id_columns(id_columns)
    store = store or job_store(env)
    record = JobRecord(
        job_id=job_id,
        env=env,
        status=JobStatus.RUNNING,
        input_table=str(source_ref),
        output_table=str(output_ref),
        model_name=model_name,
        write_disposition=write_disposition,
    )
    if retry:
        done = _previous_run(store, record)
        if done is not None:
            return PreparedJob(record=done, store=store, reused=True)
    model = resolve_model(env, model_name, model_version, allow_archived=allow_archived)
    record.model_version = model.version
    source = BigQueryReadSource(
        source_ref, chunk_rows=chunk_rows or settings.predict_chunk_rows, env=env
    )
    features = plan_features(model.model, model.metadata)
    check_input(source.schema, features)
    if id_columns is None:
        id_columns = default_id_columns(source.schema, features, RESERVED)
    output = plan_output(
        input_schema=source.schema,
        id_columns=list(id_columns),
        model=model.model,
        model_name=model.model_name,
        model_version=model.version,
        job_id=job_id,
    )
    check_output_target(output_ref, bq_schema(output.schema))  # before any answer, also 202
    sink = BigQuerySink(
        output_ref,
        job_id=job_id,
        disposition=write_disposition,
        flush_rows=chunk_rows or 0,
        env=env,
    )
    if retry and write_disposition == "append":
        published = sink.already_published()
        if published:  # the record was lost but the rows are there: never publish twice
            record.status, record.rows_written = JobStatus.SUCCEEDED, published
            record.finished_at = now()
            store.save(record)
            return PreparedJob(record=record, store=store, reused=True)
    record.rows_total = source.num_rows
    monitor = prepare_monitor(
        env=env,
        job_id=job_id,
        model=model,
        input_schema=source.schema,
        output=output,
        output_ref=output_ref,
        write_disposition=write_disposition,
        shadow_version=shadow_version,
        flush_rows=chunk_rows or 0,
    )
    return PreparedJob(record, store, model, features, output, source, sink, monitor=monitor)


def _previous_run(store: JobStore, record: JobRecord) -> JobRecord | None:
    """The earlier record of a retried job id: its result if it succeeded, else None."""
    previous = store.get(record.job_id)
    if previous is None:
        return None
    same = (previous.input_table, previous.output_table, previous.model_name) == (
        record.input_table,
        record.output_table,
        record.model_name,
    )
    if not same:
        raise JobConflict(
            f"job id {record.job_id} was already used for {previous.model_name}: "
            f"{previous.input_table} -> {previous.output_table}; use a new job id"
        )
    if previous.status == JobStatus.SUCCEEDED:
        return previous
    if previous.status == JobStatus.RUNNING and not previous.is_stale:
        raise JobConflict(
            f"job {record.job_id} is running (last update {previous.updated_at.isoformat()}); "
            "poll GET /jobs/{job_id} instead of starting it again"
        )
    return None  # failed, or a crashed worker: run it again


def execute(job: PreparedJob, *, progress: Progress | None = None) -> JobRecord:
    """Stream, publish and record the outcome; re-raises the error of a failed job."""
    if job.reused:
        return job.record
    record = job.record
    with log_context(job_id=record.job_id, model=record.model_name, version=record.model_version):
        return _execute(job, progress=progress)


def _execute(job: PreparedJob, *, progress: Progress | None = None) -> JobRecord:
    assert job.model and job.features and job.output and job.source and job.sink
    record, store = job.record, job.store
    store.save(record)
    last_save = time.monotonic()

    def on_progress(done: int, total: int | None) -> None:
        nonlocal last_save
        record.rows_done, record.updated_at = done, now()
        if time.monotonic() - last_save >= PROGRESS_INTERVAL_S:
            store.save(record)
            last_save = time.monotonic()
        if progress is not None:
            progress(done, total)

    try:
        result = predict_stream(
            model=job.model.model,
            features=job.features,
            output=job.output,
            source=job.source,
            sink=job.sink,
            progress=on_progress,
            observers=job.monitor.observers if job.monitor else (),
        )
    except BaseException as exc:
        record.status = JobStatus.FAILED
        record.error_code = exc.code if isinstance(exc, MlsysError) else "INTERNAL"
        record.error_message = exc.message if isinstance(exc, MlsysError) else repr(exc)[:1000]
        record.updated_at = record.finished_at = now()
        store.save(record)
        raise
    if job.monitor is not None:  # published: drift and shadow figures, before "succeeded"
        job.monitor.record()
    record.status = JobStatus.SUCCEEDED
    record.rows_done, record.rows_written = result.rows_read, result.rows_written
    record.updated_at = record.finished_at = now()
    store.save(record)
    return dataclasses.replace(record)


def run_prediction(*, progress: Progress | None = None, **request: Any) -> JobRecord:
    """Predict ``input_table`` into ``output_table`` now; returns the finished job record."""
    return execute(prepare_prediction(**request), progress=progress)


def start_prediction(**request: Any) -> JobRecord:
    """Check the request, then run the job in a background thread; returns its record."""
    job = prepare_prediction(**request)
    if job.reused:
        return job.record
    job.store.save(job.record)

    def work() -> None:
        try:
            execute(job)
        except Exception:  # recorded in the job store by execute(); nobody waits on the thread
            log.exception("prediction job %s failed", job.record.job_id)

    context = contextvars.copy_context()  # the request's trace follows the job into its thread
    thread = threading.Thread(
        target=context.run, args=(work,), name=f"predict-{job.record.job_id}", daemon=True
    )
    thread.start()
    return dataclasses.replace(job.record)
