"""One task of a sharded prediction job: read its shard, score it, stage it in its own table.

Task ``i`` of job ``J`` stages into ``{output}__job_{J}_task_{i}``, dropped and re-created at
the start of every attempt: a task that Cloud Run retries (or that is killed and rerun) replaces
its own rows and nobody else's, without DML. The output is only touched by
:func:`mlsys.jobs.publish.publish_if_complete` once every shard is staged.

The scoring is the streaming core of :mod:`mlsys.predict` (same features, same output columns,
same chunked, overlapped read/score/write); only the source (one shard) and the sink (stage
only, no publish) differ.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pyarrow as pa
from google.api_core import exceptions as gexc

from mlsys.clients import bigquery_client, bigquery_read_client
from mlsys.errors import ConfigError, MlsysError, TableNotFound
from mlsys.identifiers import TableRef, parse_table_id
from mlsys.jobs.plan import ShardPlan, job_records, shard_store
from mlsys.predict.features import check_input, plan_features
from mlsys.predict.jobs import JobStatus, now
from mlsys.predict.output import plan_output
from mlsys.predict.pipeline import resolve_model
from mlsys.predict.sinks import BigQuerySink
from mlsys.predict.sources import arrow_schema, rebatch
from mlsys.predict.stream import predict_stream
from mlsys.settings import get_settings

log = logging.getLogger(__name__)


def task_table(output: TableRef, job_id: str, index: int) -> TableRef:
    """The staging table of one task, next to the output."""
    return output.with_table(f"{output.table}__job_{job_id}_task_{index}"[:1024])


class ShardSource:
    """The rows of one shard, through the BigQuery Storage Read API, in Arrow batches."""

    def __init__(
        self,
        ref: TableRef,
        *,
        streams: Sequence[str] | None,
        row_restriction: str | None,
        chunk_rows: int,
        env: str,
        stream_schema: pa.Schema | None = None,
    ) -> None:
        self.ref = ref
        self.env = env
        self.streams = streams
        self.stream_schema = stream_schema
        self.row_restriction = row_restriction
        self.chunk_rows = chunk_rows
        try:
            table = bigquery_client(env).get_table(str(ref))
        except gexc.NotFound:
            raise TableNotFound(f"input table {ref} does not exist") from None
        self.schema = arrow_schema(table.schema)
        self.num_rows: int | None = None  # a shard's size is known only once read

    def _streams(self, columns: Sequence[str]) -> tuple[pa.Schema, Sequence[str]]:
        """The Arrow schema of the rows and the stream names to read."""
        if self.streams is not None:  # the job's session, created by the launcher
            return self.stream_schema or pa.schema([]), self.streams
        from google.cloud.bigquery_storage_v1 import types

        ref = self.ref
        # Billed to the environment's project, never the input table's.
        session = bigquery_read_client(self.env).create_read_session(
            parent=f"projects/{get_settings().project_for(self.env)}",
            read_session=types.ReadSession(
                table=f"projects/{ref.project}/datasets/{ref.dataset}/tables/{ref.table}",
                data_format=types.DataFormat.ARROW,
                read_options=types.ReadSession.TableReadOptions(
                    selected_fields=list(columns), row_restriction=self.row_restriction or ""
                ),
            ),
            max_stream_count=1,
        )
        schema = pa.ipc.read_schema(pa.py_buffer(session.arrow_schema.serialized_schema))
        return schema, [s.name for s in session.streams]

    def batches(self, columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
        client = bigquery_read_client(self.env)
        target = pa.schema([self.schema.field(c) for c in columns])
        schema, names = self._streams(columns)

        def raw() -> Iterator[pa.RecordBatch]:
            for name in names:
                for message in client.read_rows(name):
                    data = message.arrow_record_batch.serialized_record_batch
                    if data:
                        yield pa.ipc.read_record_batch(pa.py_buffer(data), schema)

        for batch in rebatch(raw(), self.chunk_rows):
            batch = batch.select(list(columns))
            yield batch if batch.schema.equals(target) else batch.cast(target)


class TaskSink(BigQuerySink):
    """The prediction sink, staging into the task's own table; ``commit`` does NOT publish."""

    def __init__(
        self,
        output: TableRef,
        *,
        job_id: str,
        index: int,
        disposition: str,
        env: str,
        flush_rows: int = 0,
    ) -> None:
        super().__init__(
            output, job_id=job_id, disposition=disposition, flush_rows=flush_rows, env=env
        )
        self.staging = task_table(output, job_id, index)

    def commit(self) -> int:
        """Load the last rows into the task table; the rows stay staged."""
        self._flush()
        return self.staged_rows


@dataclass(frozen=True)
class TaskOutcome:
    job_id: str
    index: int
    rows: int
    published: int | None  # rows published by this task (it was the last one), else None


def run_task(env: str, job_id: str, *, index: int, count: int, attempt: int = 0) -> TaskOutcome:
    """Predict shard ``index`` of ``count`` of job ``job_id``; publish if it is the last one."""
    from mlsys.jobs.publish import publish_if_complete

    store = shard_store(env)
    plan = store.plan(job_id)
    if count != plan.task_count or not 0 <= index < count:
        raise ConfigError(
            f"task {index} of {count}: job {job_id} was planned for {plan.task_count} tasks "
            "(launch it with the plan's task count)"
        )
    if store.published(job_id) is not None:  # a rerun after the job published: nothing to do
        log.info("job %s already published: task %d has nothing to do", job_id, index)
        return TaskOutcome(job_id, index, 0, None)
    try:
        rows = _predict_shard(plan, index)
    except BaseException as exc:
        _record_failure(plan, index, attempt, exc)
        raise
    store.task_done(job_id, index, attempt, rows)
    _record_progress(plan)
    published = publish_if_complete(plan)
    return TaskOutcome(job_id, index, rows, published)


def _predict_shard(plan: ShardPlan, index: int) -> int:
    settings = get_settings()
    project = settings.project_for(plan.env)
    input_ref = parse_table_id(plan.input_table, default_project=project)
    output_ref = parse_table_id(plan.output_table, default_project=project)
    chunk_rows = plan.chunk_rows or settings.predict_chunk_rows
    model = resolve_model(plan.env, plan.model_name, plan.model_version)
    features = plan_features(model.model, model.metadata)
    source = ShardSource(
        input_ref,
        streams=plan.streams_of(index) if plan.split == "streams" else None,
        row_restriction=plan.row_restriction(index),
        chunk_rows=chunk_rows,
        env=plan.env,
        stream_schema=plan.stream_schema(),
    )
    check_input(source.schema, features)
    output = plan_output(
        input_schema=source.schema,
        id_columns=list(plan.id_columns),
        model=model.model,
        model_name=model.model_name,
        model_version=model.version,
        job_id=plan.job_id,
    )
    # One timestamp for the whole job, whichever task wrote the row.
    output = dataclasses.replace(output, timestamp=plan.created_at)
    sink = TaskSink(
        output_ref,
        job_id=plan.job_id,
        index=index,
        disposition=plan.write_disposition,
        env=plan.env,
        flush_rows=chunk_rows,
    )
    result = predict_stream(
        model=model.model, features=features, output=output, source=source, sink=sink
    )
    log.info("job %s task %d staged %d rows", plan.job_id, index, result.rows_written)
    return result.rows_written


def _record_progress(plan: ShardPlan) -> None:
    """Rows staged so far, summed over tasks, in the job record (``GET /jobs/{id}``)."""
    jobs = job_records(plan.env)
    record = jobs.get(plan.job_id)
    if record is None or record.status == JobStatus.SUCCEEDED:
        return
    done = shard_store(plan.env).tasks_done(plan.job_id)
    record.status = JobStatus.RUNNING
    record.rows_done = sum(t.rows for t in done.values())
    record.error_code = record.error_message = None
    record.updated_at = now()
    jobs.save(record)


def _record_failure(plan: ShardPlan, index: int, attempt: int, exc: BaseException) -> None:
    """A failed attempt marks the job failed; Cloud Run may still retry the task."""
    record = job_records(plan.env).get(plan.job_id)
    if record is None or record.status == JobStatus.SUCCEEDED:
        return
    message = exc.message if isinstance(exc, MlsysError) else repr(exc)[:900]
    record.status = JobStatus.FAILED
    record.error_code = exc.code if isinstance(exc, MlsysError) else "INTERNAL"
    record.error_message = f"task {index} (attempt {attempt}): {message}"
    record.updated_at = record.finished_at = now()
    try:
        job_records(plan.env).save(record)
    except gexc.GoogleAPIError as save_error:  # the task's own error matters more
        log.warning("could not record the failure of job %s: %s", plan.job_id, save_error)
