"""Where a task's output rows wait for the publish: its own staging table, written through the
BigQuery Storage Write API.

Each attempt of task ``i`` of job ``J`` stages into a fresh table of the ops dataset,
``{ops}.stage__{J}__task{i}__e{epoch}`` (the epoch of the task's claim, so a stale attempt and
its successor never share a table), created with an expiry. Rows go through ONE pending write
stream: Arrow record batches appended with offsets (a resend after a lost answer is refused as a
duplicate, never written twice), made visible by one commit at the end. No load job per chunk:
the number of load jobs of a job does not grow with its rows (it is zero), so BigQuery's 1,500
load jobs per table per day never cap a job. Nothing reaches the output before
:mod:`mlsys.predict.publish`.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Protocol

import pyarrow as pa
from google.api_core import exceptions as gexc

from mlsys.clients import bigquery_client, bigquery_write_client
from mlsys.errors import BackendUnavailable
from mlsys.schema import bq_schema
from mlsys.settings import get_settings

log = logging.getLogger(__name__)

#: Staging tables vanish by themselves after this long, whatever happened to the job.
STAGING_TTL = dt.timedelta(days=2)
#: BigQuery refuses AppendRows requests over 10 MB: batches are split below that.
MAX_APPEND_BYTES = 8 * 1024 * 1024


class BatchSink(Protocol):
    """Output rows: opened with the schema, written per chunk, made durable once."""

    def open(self, schema: pa.Schema) -> None: ...

    def write(self, batch: pa.RecordBatch) -> None: ...

    def commit(self) -> int: ...

    def abort(self) -> None: ...


class MemorySink:
    """Collects the output in memory (benchmarks, the promotion smoke gate); ``commit`` makes
    ``table``."""

    def __init__(self, *, keep: bool = True) -> None:
        self.keep = keep
        self.batches: list[pa.RecordBatch] = []
        self.rows = 0
        self.schema: pa.Schema | None = None
        self.table: pa.Table | None = None

    def open(self, schema: pa.Schema) -> None:
        self.schema = schema

    def write(self, batch: pa.RecordBatch) -> None:
        self.rows += batch.num_rows
        if self.keep:
            self.batches.append(batch)

    def commit(self) -> int:
        self.table = pa.Table.from_batches(self.batches, schema=self.schema)
        return self.rows

    def abort(self) -> None:
        self.batches.clear()


def stage_table(env: str, job_id: str, index: int, epoch: int) -> str:
    """The staging table of one attempt (claim epoch) of one task."""
    return f"{get_settings().ops_dataset_ref(env)}.stage__{job_id}__task{index}__e{epoch}"


class StagingWriter:
    """One pending write stream into a fresh staging table; ``commit`` makes its rows visible
    in that table at once, ``abort`` drops the table (an uncommitted stream is discarded)."""

    def __init__(self, env: str, table_id: str) -> None:
        self.env = env
        self.table_id = table_id
        self.rows = 0
        self._stream: Any = None
        self._name = ""
        self._pending: list[Any] = []

    @property
    def _parent(self) -> str:
        project, dataset, table = self.table_id.split(".")
        return f"projects/{project}/datasets/{dataset}/tables/{table}"

    def open(self, schema: pa.Schema) -> None:
        from google.cloud import bigquery
        from google.cloud.bigquery_storage_v1 import types, writer

        client = bigquery_client(self.env)
        client.delete_table(self.table_id, not_found_ok=True)  # a fresh table per attempt
        table = bigquery.Table(self.table_id, schema=bq_schema(schema))
        table.expires = dt.datetime.now(dt.UTC) + STAGING_TTL
        table.description = "mlsys: rows of one prediction task, until the job publishes"
        client.create_table(table)
        write = bigquery_write_client(self.env)
        stream = write.create_write_stream(
            parent=self._parent,
            write_stream=types.WriteStream(type_=types.WriteStream.Type.PENDING),
        )
        self._name = stream.name
        template = types.AppendRowsRequest(
            write_stream=stream.name,
            arrow_rows=types.AppendRowsRequest.ArrowData(
                writer_schema=types.ArrowSchema(serialized_schema=schema.serialize().to_pybytes())
            ),
        )
        self._stream = writer.AppendRowsStream(write, template)

    def write(self, batch: pa.RecordBatch) -> None:
        for part in _split(batch):
            self._append(part)

    def _append(self, batch: pa.RecordBatch) -> None:
        from google.cloud.bigquery_storage_v1 import types

        request = types.AppendRowsRequest(
            write_stream=self._name,  # every request names it (the emulator needs it)
            offset=self.rows,  # exactly-once within the stream
            arrow_rows=types.AppendRowsRequest.ArrowData(
                rows=types.ArrowRecordBatch(
                    serialized_record_batch=batch.serialize().to_pybytes(),
                    row_count=batch.num_rows,
                )
            ),
        )
        self._pending.append(self._stream.send(request))
        self.rows += batch.num_rows
        while len(self._pending) > 4:  # bounded in flight: memory stays flat
            self._pending.pop(0).result()

    def commit(self) -> int:
        from google.cloud.bigquery_storage_v1 import types

        try:
            for future in self._pending:
                future.result()
            self._pending.clear()
            if self.rows:  # the connection opens on the first append only
                self._stream.close()
            write = bigquery_write_client(self.env)
            write.finalize_write_stream(name=self._name)
            done = write.batch_commit_write_streams(
                request=types.BatchCommitWriteStreamsRequest(
                    parent=self._parent, write_streams=[self._name]
                )
            )
        except gexc.GoogleAPIError as exc:
            raise BackendUnavailable(f"staging {self.table_id} failed: {exc}") from exc
        if done.stream_errors:
            raise BackendUnavailable(f"staging {self.table_id} failed: {list(done.stream_errors)}")
        return self.rows

    def abort(self) -> None:
        self._pending.clear()
        if self._stream is not None and self.rows:
            try:
                self._stream.close()
            except Exception as exc:  # closing a broken stream: nothing left to save
                log.debug("closing write stream %s: %s", self._name, exc)
        drop_table(self.env, self.table_id)


def _split(batch: pa.RecordBatch) -> list[pa.RecordBatch]:
    """Slices of ``batch`` that each serialize under :data:`MAX_APPEND_BYTES`."""
    size = batch.nbytes
    if size <= MAX_APPEND_BYTES or batch.num_rows <= 1:
        return [batch]
    parts = -(-size // MAX_APPEND_BYTES)
    step = -(-batch.num_rows // parts)
    return [batch.slice(i, step) for i in range(0, batch.num_rows, step)]


def drop_table(env: str, table_id: str) -> None:
    """Drop an auxiliary table; it expires anyway, so a failure is only logged."""
    try:
        bigquery_client(env).delete_table(table_id, not_found_ok=True)
    except gexc.GoogleAPIError as exc:
        log.warning("could not drop %s (it expires by itself): %s", table_id, exc)
