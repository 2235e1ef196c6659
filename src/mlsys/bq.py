"""BigQuery I/O: the seed's ``bq_get`` and ``bq_put`` with one shared client and clear errors."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
from google.api_core import exceptions as gexc

from mlsys.clients import bigquery_client
from mlsys.errors import InvalidInput, TableNotFound
from mlsys.identifiers import parse_table_id
from mlsys.schema import bq_schema

if TYPE_CHECKING:
    import pandas as pd
    from google.cloud import bigquery

_DISPOSITIONS = {
    "WRITE_APPEND": "WRITE_APPEND",
    "WRITE_TRUNCATE": "WRITE_TRUNCATE",
    "WRITE_EMPTY": "WRITE_EMPTY",
    "APPEND": "WRITE_APPEND",
    "TRUNCATE": "WRITE_TRUNCATE",
    "EMPTY": "WRITE_EMPTY",
}


def bq_get(
    query: str, params: list[bigquery.ScalarQueryParameter | Any] | None = None
) -> pd.DataFrame:
    """Run a query and return its rows as a DataFrame.

    Pass values as ``params`` (``bigquery.ScalarQueryParameter``), never pasted into ``query``.
    """
    from google.cloud import bigquery

    client = bigquery_client()
    config = bigquery.QueryJobConfig(query_parameters=params or [])
    try:
        job = client.query(query, job_config=config)
        # Query results come back over REST: the Storage Read API is for whole tables.
        table = job.result().to_arrow(create_bqstorage_client=False)
    except gexc.NotFound as exc:
        raise TableNotFound(
            f"query refers to something that does not exist: {exc.message}"
        ) from None
    except gexc.BadRequest as exc:
        raise InvalidInput(f"BigQuery rejected the query: {exc.message}") from None
    return table.to_pandas(types_mapper=_nullable_types)


def bq_put(
    df: pd.DataFrame,
    table_id: str,
    write_disposition: str = "WRITE_APPEND",
) -> int:
    """Load a DataFrame into ``project.dataset.table`` (created if missing); returns rows loaded.

    ``write_disposition``: ``WRITE_APPEND`` (default), ``WRITE_TRUNCATE`` or ``WRITE_EMPTY``.
    The load is one job: it lands whole or not at all.
    """
    from google.cloud import bigquery

    client = bigquery_client()
    ref = parse_table_id(table_id, default_project=client.project)
    disposition = _DISPOSITIONS.get(str(write_disposition).upper())
    if disposition is None:
        raise InvalidInput(
            f"unknown write_disposition {write_disposition!r}: expected WRITE_APPEND, "
            "WRITE_TRUNCATE or WRITE_EMPTY"
        )
    try:
        client.get_dataset(f"{ref.project}.{ref.dataset}")
    except gexc.NotFound:
        raise TableNotFound(
            f"dataset {ref.project}.{ref.dataset} does not exist (loading into {ref})"
        ) from None
    exists = _table_exists(client, str(ref))
    if disposition == "WRITE_TRUNCATE" and not exists:
        # Same outcome (a new table holding exactly these rows); some emulators fail a
        # truncating load into a table that does not exist yet.
        disposition = "WRITE_APPEND"
    # DataFrame -> Arrow -> Parquet keeps NULLs, timestamps and strings typed, and is one
    # load job: the rows land whole or not at all.
    arrow = pa.Table.from_pandas(df, preserve_index=False)
    buffer = io.BytesIO()
    pq.write_table(arrow, buffer)
    buffer.seek(0)
    config = bigquery.LoadJobConfig(
        write_disposition=disposition, source_format=bigquery.SourceFormat.PARQUET
    )
    if exists is False:
        config.schema = bq_schema(arrow.schema)
    try:
        job = client.load_table_from_file(buffer, str(ref), job_config=config, rewind=True)
        job.result()
    except gexc.NotFound as exc:
        raise TableNotFound(f"cannot load into {ref}: {exc.message}") from None
    except gexc.BadRequest as exc:
        raise InvalidInput(f"BigQuery rejected the load into {ref}: {exc.message}") from None
    return int(job.output_rows if job.output_rows is not None else len(df))


def _table_exists(client: bigquery.Client, table_id: str) -> bool:
    try:
        client.get_table(table_id)
    except gexc.NotFound:
        return False
    return True


def _nullable_types(arrow_type: pa.DataType) -> object:
    """Integers and booleans with NULLs stay integers/booleans (pandas nullable dtypes)."""
    import pandas as pd

    if pa.types.is_integer(arrow_type):
        return pd.Int64Dtype()
    if pa.types.is_boolean(arrow_type):
        return pd.BooleanDtype()
    return None
