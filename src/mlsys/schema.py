"""Mapping between Arrow/pandas types and BigQuery table schemas."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from mlsys.errors import InvalidInput

if TYPE_CHECKING:
    from google.cloud import bigquery


def bq_type(arrow_type: pa.DataType) -> str:
    """The BigQuery column type for an Arrow type."""
    checks = (
        (pa.types.is_boolean, "BOOLEAN"),
        (pa.types.is_integer, "INTEGER"),
        (pa.types.is_floating, "FLOAT"),
        (pa.types.is_decimal, "NUMERIC"),
        (lambda t: pa.types.is_string(t) or pa.types.is_large_string(t), "STRING"),
        (lambda t: pa.types.is_binary(t) or pa.types.is_large_binary(t), "BYTES"),
        (pa.types.is_timestamp, "TIMESTAMP"),
        (pa.types.is_date, "DATE"),
        (pa.types.is_time, "TIME"),
        (pa.types.is_null, "STRING"),
    )
    if pa.types.is_dictionary(arrow_type):
        return bq_type(arrow_type.value_type)
    for check, name in checks:
        if check(arrow_type):
            return name
    raise InvalidInput(f"cannot store Arrow type {arrow_type} in BigQuery: expected a scalar type")


def bq_schema(schema: pa.Schema) -> list[bigquery.SchemaField]:
    """A NULLABLE BigQuery schema for an Arrow schema."""
    from google.cloud import bigquery

    fields = []
    for field in schema:
        if pa.types.is_timestamp(field.type) and field.type.tz is None:
            kind = "DATETIME"
        else:
            kind = bq_type(field.type)
        fields.append(bigquery.SchemaField(field.name, kind, mode="NULLABLE"))
    return fields
