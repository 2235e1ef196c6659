"""Where input rows come from, as Arrow record batches of bounded size.

- :class:`BigQueryReadSource`: the BigQuery Storage Read API (Arrow streams, read in parallel
  threads into a bounded queue, so reading overlaps scoring and memory stays flat);
- :class:`ListRowsSource`: paged ``tabledata.list`` over REST (when the Storage API is not
  allowed);
- :class:`MemorySource`: an in-memory Arrow table (benchmarks, tests).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

import pyarrow as pa
from google.api_core import exceptions as gexc

from mlsys.clients import bigquery_client, bigquery_read_client
from mlsys.errors import TableNotFound, UnsupportedTableType
from mlsys.identifiers import TableRef
from mlsys.settings import get_settings

if TYPE_CHECKING:
    from google.cloud import bigquery

#: Parallel Storage Read API streams. One stream already delivers millions of rows/s, far more
#: than a model scores on 2 cores; every extra stream adds its gRPC buffers to peak memory.
READ_STREAMS = 1
#: Record batches buffered between the reader and the scorer (bounds memory): one is enough,
#: reading is several times faster than scoring.
PREFETCH_BATCHES = 1

_ARROW_OF_BQ = {
    "INTEGER": pa.int64(),
    "INT64": pa.int64(),
    "FLOAT": pa.float64(),
    "FLOAT64": pa.float64(),
    "NUMERIC": pa.decimal128(38, 9),
    "BIGNUMERIC": pa.decimal256(76, 38),
    "BOOLEAN": pa.bool_(),
    "BOOL": pa.bool_(),
    "STRING": pa.string(),
    "JSON": pa.string(),
    "GEOGRAPHY": pa.string(),
    "BYTES": pa.binary(),
    "TIMESTAMP": pa.timestamp("us", tz="UTC"),
    "DATETIME": pa.timestamp("us"),
    "DATE": pa.date32(),
    "TIME": pa.time64("us"),
}


#: Table types the Storage Read API reads (it cannot read logical or materialized views, nor
#: external tables that are not BigLake tables).
READABLE_TYPES = frozenset({"TABLE", "SNAPSHOT"})


def check_readable(ref: TableRef, table: bigquery.Table) -> None:
    """An input the pipeline can stream; a view or an external table gets a clear 422."""
    kind = (table.table_type or "TABLE").upper()
    if kind not in READABLE_TYPES:
        raise UnsupportedTableType(
            f"input {ref} is a {kind.replace('_', ' ').lower()}: batch prediction streams tables "
            "through the BigQuery Storage Read API, which cannot read it; materialize it first "
            f"(CREATE TABLE `{ref.project}.{ref.dataset}.{ref.table}_snapshot` AS SELECT * FROM "
            f"`{ref}`) and predict from that table",
            details={"table_type": kind},
        )


class BatchSource(Protocol):
    """Input rows: a schema, a row count if known, and batches of the selected columns."""

    schema: pa.Schema
    num_rows: int | None

    def batches(self, columns: Sequence[str]) -> Iterator[pa.RecordBatch]: ...


def arrow_schema(fields: Sequence[bigquery.SchemaField]) -> pa.Schema:
    """The Arrow schema of a BigQuery table's scalar columns (nested/repeated ones are left out:
    they can be neither features nor copied-through ids)."""
    out = []
    for f in fields:
        arrow_type = _ARROW_OF_BQ.get(f.field_type.upper())
        if arrow_type is not None and f.mode != "REPEATED":
            out.append(pa.field(f.name, arrow_type))
    return pa.schema(out)


def rebatch(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """Batches of about ``rows`` rows out of batches of any size (fewer model calls)."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        pending.append(batch)
        count += batch.num_rows
        if count >= rows:
            yield from _split(pa.concat_batches(pending), rows)
            pending, count = [], 0
    if pending:
        yield from _split(pa.concat_batches(pending), rows)


def _split(batch: pa.RecordBatch, rows: int) -> Iterator[pa.RecordBatch]:
    for start in range(0, batch.num_rows, rows):
        yield batch.slice(start, rows)


class MemorySource:
    """An Arrow table in memory, cut into chunks."""

    def __init__(self, table: pa.Table, *, chunk_rows: int = 50_000) -> None:
        self.table = table
        self.schema = table.schema
        self.num_rows: int | None = table.num_rows
        self.chunk_rows = chunk_rows

    def batches(self, columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
        # A table built from pages (e.g. query results) may hold empty chunks: never score them.
        chunks = self.table.select(list(columns)).to_batches(max_chunksize=self.chunk_rows)
        yield from rebatch(iter(chunks), self.chunk_rows)


def open_read_session(
    env: str,
    ref: TableRef,
    columns: Sequence[str],
    *,
    max_streams: int = READ_STREAMS,
    row_restriction: str | None = None,
) -> tuple[pa.Schema, list[str]]:
    """THE read session of mlsys: Arrow streams of ``columns`` of ``ref``, billed to the
    environment's project (never the input table's); returns the rows' Arrow schema and the
    stream names (none for an empty table)."""
    from google.cloud.bigquery_storage_v1 import types

    parent = get_settings().project_for(env)
    session = bigquery_read_client(env).create_read_session(
        parent=f"projects/{parent}",
        read_session=types.ReadSession(
            table=f"projects/{ref.project}/datasets/{ref.dataset}/tables/{ref.table}",
            data_format=types.DataFormat.ARROW,
            read_options=types.ReadSession.TableReadOptions(
                selected_fields=list(columns), row_restriction=row_restriction or ""
            ),
        ),
        max_stream_count=max_streams,
    )
    if not session.streams:  # an empty table (or shard) has no stream
        return pa.schema([]), []
    schema = pa.ipc.read_schema(pa.py_buffer(session.arrow_schema.serialized_schema))
    return schema, [s.name for s in session.streams]


class _BigQueryTable:
    def __init__(self, ref: TableRef, *, chunk_rows: int, env: str | None = None) -> None:
        self.ref = ref
        self.env = env or get_settings().mlsys_env
        self.chunk_rows = chunk_rows
        try:
            table = bigquery_client(self.env).get_table(str(ref))
        except gexc.NotFound:
            raise TableNotFound(f"input table {ref} does not exist") from None
        check_readable(ref, table)
        self.schema = arrow_schema(table.schema)
        self.num_rows: int | None = int(table.num_rows) if table.num_rows is not None else None

    def _cast(self, batch: pa.RecordBatch, columns: Sequence[str]) -> pa.RecordBatch:
        target = pa.schema([self.schema.field(c) for c in columns])
        batch = batch.select(list(columns))
        return batch if batch.schema.equals(target) else batch.cast(target)


class BigQueryReadSource(_BigQueryTable):
    """The BigQuery Storage Read API: Arrow batches, read in a thread ahead of the scorer.

    The whole table by default; one shard of a job with ``row_restriction`` (hash split) or
    with ``streams`` of the job's own session (``stream_schema`` is that session's).
    """

    def __init__(
        self,
        ref: TableRef,
        *,
        chunk_rows: int,
        env: str | None = None,
        row_restriction: str | None = None,
        streams: Sequence[str] | None = None,
        stream_schema: pa.Schema | None = None,
    ) -> None:
        super().__init__(ref, chunk_rows=chunk_rows, env=env)
        self.row_restriction = row_restriction
        self.streams = streams
        self.stream_schema = stream_schema
        if streams is not None or row_restriction is not None:
            self.num_rows = None  # a shard's size is known only once read

    def batches(self, columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
        if self.streams is not None:
            schema, names = self.stream_schema or pa.schema([]), list(self.streams)
        else:
            schema, names = open_read_session(
                self.env, self.ref, columns, row_restriction=self.row_restriction
            )
        client = bigquery_read_client(self.env)

        def read(stream_name: str) -> Iterator[pa.RecordBatch]:
            # ReadRowsStream resumes at the right offset on transient errors.
            for message in client.read_rows(stream_name):
                data = message.arrow_record_batch.serialized_record_batch
                if data:
                    yield pa.ipc.read_record_batch(pa.py_buffer(data), schema)

        if not names:
            return
        raw = _merge_threaded([_chain(read(n) for n in names)])  # reading overlaps scoring
        for batch in rebatch(raw, self.chunk_rows):
            yield self._cast(batch, columns)


def _chain(readers: Iterator[Iterator[pa.RecordBatch]]) -> Iterator[pa.RecordBatch]:
    for reader in readers:
        yield from reader


class ListRowsSource(_BigQueryTable):
    """Paged ``tabledata.list`` over REST: slower, but needs no Storage Read API."""

    def batches(self, columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
        client = bigquery_client(self.env)
        table = client.get_table(str(self.ref))
        selected = [f for f in table.schema if f.name in set(columns)]
        rows = client.list_rows(table, selected_fields=selected, page_size=self.chunk_rows)
        raw = (
            b
            for t in rows.to_arrow_iterable(bqstorage_client=None)
            for b in (t.to_batches() if isinstance(t, pa.Table) else [t])
        )
        for batch in rebatch(raw, self.chunk_rows):
            yield self._cast(batch, columns)


_END = object()


def _merge_threaded(readers: list[Iterator[pa.RecordBatch]]) -> Iterator[pa.RecordBatch]:
    """Run each reader in its own thread into one bounded queue; re-raise the first error."""
    out: queue.Queue[object] = queue.Queue(maxsize=PREFETCH_BATCHES)
    stop = threading.Event()

    def pump(reader: Iterator[pa.RecordBatch]) -> None:
        try:
            for batch in reader:
                while not stop.is_set():
                    try:
                        out.put(batch, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            _put(out, _END, stop)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            _put(out, exc, stop)

    threads = [threading.Thread(target=pump, args=(r,), daemon=True) for r in readers]
    for t in threads:
        t.start()
    finished = 0
    try:
        while finished < len(threads):
            item = out.get()
            if item is _END:
                finished += 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        stop.set()


def _put(out: queue.Queue[object], item: object, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            out.put(item, timeout=0.2)
            return
        except queue.Full:
            continue
