"""Where output rows go: all or nothing.

:class:`BigQuerySink` loads chunks into a job-scoped staging table
(``{output}__staging_{job_id}``) and publishes them into the output in ONE atomic step at the
end: an ``INSERT ... SELECT ... WHERE NOT EXISTS (rows of this job_id)`` query for ``append``
(so a retried job never publishes twice), a copy job with ``WRITE_TRUNCATE`` for ``truncate``.
A failed job drops its staging table and leaves the output untouched.
"""

from __future__ import annotations

import io
import logging
from typing import Protocol

import pyarrow as pa
import pyarrow.parquet as pq
from google.api_core import exceptions as gexc

from mlsys.clients import bigquery_client
from mlsys.errors import InvalidInput, OutputSchemaMismatch, TableNotFound
from mlsys.identifiers import TableRef, check_column
from mlsys.schema import bq_schema

log = logging.getLogger(__name__)

#: Rows per load job into the staging table (~3 MB of Parquet held at a time). BigQuery allows
#: 1,500 load jobs per table per day, and the staging table is per job: up to 75M rows a job.
FLUSH_ROWS = 50_000
DISPOSITIONS = ("append", "truncate")
_SAME_TYPE = {"INT64": "INTEGER", "FLOAT64": "FLOAT", "BOOL": "BOOLEAN"}


class BatchSink(Protocol):
    """Output rows: opened with the schema, written per chunk, published once."""

    def open(self, schema: pa.Schema) -> None: ...

    def write(self, batch: pa.RecordBatch) -> None: ...

    def commit(self) -> int: ...

    def abort(self) -> None: ...


class MemorySink:
    """Collects the output in memory (benchmarks, tests); ``commit`` makes ``table``."""

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


def staging_ref(output: TableRef, job_id: str) -> TableRef:
    """The job-scoped staging table next to the output."""
    return output.with_table(f"{output.table}__staging_{job_id}"[:1024])


class BigQuerySink:
    """Staging table per job + one atomic publish into the output table."""

    def __init__(
        self,
        output: TableRef,
        *,
        job_id: str,
        disposition: str = "append",
        flush_rows: int = 0,
        env: str | None = None,
    ) -> None:
        if disposition not in DISPOSITIONS:
            raise InvalidInput(
                f"write_disposition {disposition!r}: expected one of {', '.join(DISPOSITIONS)}"
            )
        self.output = output
        self.job_id = job_id
        self.disposition = disposition
        self.staging = staging_ref(output, job_id)
        self.flush_rows = flush_rows or FLUSH_ROWS
        self.client = bigquery_client(env)
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self.schema: pa.Schema | None = None
        self.staged_rows = 0

    # -- set-up ------------------------------------------------------------------------------
    def open(self, schema: pa.Schema) -> None:
        """Check (or create) the output table, then start a fresh staging table."""
        from google.cloud import bigquery

        self.schema = schema
        fields = bq_schema(schema)
        self._ensure_output(fields)
        # A staging table left by an earlier failed attempt of this job id is discarded.
        self.client.delete_table(str(self.staging), not_found_ok=True)
        table = bigquery.Table(str(self.staging), schema=fields)
        table.description = f"mlsys prediction job {self.job_id}: staging, dropped at the end"
        self.client.create_table(table)

    def _ensure_output(self, fields: list) -> None:
        from google.cloud import bigquery

        try:
            self.client.get_dataset(f"{self.output.project}.{self.output.dataset}")
        except gexc.NotFound:
            raise TableNotFound(
                f"dataset {self.output.project}.{self.output.dataset} of the output table "
                "does not exist"
            ) from None
        try:
            existing = self.client.get_table(str(self.output))
        except gexc.NotFound:
            table = bigquery.Table(str(self.output), schema=fields)
            self.client.create_table(table, exists_ok=True)
            return
        check_output_schema(self.output, existing.schema, fields)

    def already_published(self) -> int:
        """Rows of this job id already in the output (a retry after a lost job record)."""
        from google.cloud import bigquery

        try:
            self.client.get_table(str(self.output))
        except gexc.NotFound:
            return 0
        config = bigquery.QueryJobConfig(
            query_parameters=[bigquery.ScalarQueryParameter("job_id", "STRING", self.job_id)]
        )
        sql = f"SELECT COUNT(*) AS n FROM {self.output.sql} WHERE job_id = @job_id"
        rows = list(self.client.query(sql, job_config=config).result())
        return int(rows[0]["n"]) if rows else 0

    # -- rows --------------------------------------------------------------------------------
    def write(self, batch: pa.RecordBatch) -> None:
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        if self._pending_rows >= self.flush_rows:
            self._flush()

    def _flush(self) -> None:
        if not self._pending_rows:
            return
        from google.cloud import bigquery

        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_batches(self._pending, schema=self.schema), buffer)
        self._pending, rows, self._pending_rows = [], self._pending_rows, 0
        buffer.seek(0)
        config = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.PARQUET,
            write_disposition="WRITE_APPEND",
            schema=bq_schema(self.schema) if self.schema is not None else None,
        )
        job = self.client.load_table_from_file(
            buffer, str(self.staging), job_config=config, rewind=True
        )
        job.result()
        self.staged_rows += rows

    # -- the one atomic step -----------------------------------------------------------------
    def commit(self) -> int:
        """Publish the staged rows into the output in one job; returns rows published."""
        from google.cloud import bigquery

        self._flush()
        if self.disposition == "truncate":
            copy = bigquery.CopyJobConfig(write_disposition="WRITE_TRUNCATE")
            self.client.copy_table(str(self.staging), str(self.output), job_config=copy).result()
            published = self.staged_rows
        else:
            columns = ", ".join(f"`{check_column(f.name)}`" for f in self.schema or [])
            sql = (
                f"INSERT INTO {self.output.sql} ({columns}) "
                f"SELECT {columns} FROM {self.staging.sql} "
                f"WHERE NOT EXISTS (SELECT 1 FROM {self.output.sql} WHERE job_id = @job_id)"
            )
            config = bigquery.QueryJobConfig(
                query_parameters=[bigquery.ScalarQueryParameter("job_id", "STRING", self.job_id)]
            )
            job = self.client.query(sql, job_config=config)
            job.result()
            published = int(job.num_dml_affected_rows or 0)
        self._drop_staging()
        return published

    def abort(self) -> None:
        self._pending.clear()
        self._drop_staging()

    def _drop_staging(self) -> None:
        try:
            self.client.delete_table(str(self.staging), not_found_ok=True)
        except gexc.GoogleAPIError as exc:  # the rows are safe either way; say so and go on
            log.warning("could not drop staging table %s: %s", self.staging, exc)


def check_output_schema(output: TableRef, existing: list, wanted: list) -> None:
    """An existing output table must have every output column with the same type."""
    have = {f.name: f for f in existing}
    problems = []
    for field in wanted:
        found = have.get(field.name)
        if found is None:
            problems.append(f"{field.name} is missing (expected {field.field_type})")
        elif _norm(found.field_type) != _norm(field.field_type) or found.mode == "REPEATED":
            problems.append(f"{field.name} is {found.field_type}, expected {field.field_type}")
    names = {f.name for f in wanted}
    problems += [
        f"{f.name} is REQUIRED but not produced"
        for f in existing
        if f.name not in names and f.mode == "REQUIRED"
    ]
    if problems:
        raise OutputSchemaMismatch(
            f"output table {output} has an incompatible schema: {'; '.join(problems)}",
            details={"problems": problems},
        )


def _norm(kind: str) -> str:
    kind = kind.upper()
    return _SAME_TYPE.get(kind, kind)
