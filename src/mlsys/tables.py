"""mlsys's own BigQuery tables: their schemas (``src/mlsys/schemas``, also read by Terraform)
and append-only writes. Kept free of pyarrow/pandas so the registry function stays light."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from google.cloud import bigquery


def schema_text(name: str) -> str:
    """A file of ``mlsys/schemas`` (JSON table schemas, view SQL)."""
    from importlib import resources

    return resources.files("mlsys.schemas").joinpath(name).read_text(encoding="utf-8")


def schema_fields(name: str) -> list[bigquery.SchemaField]:
    """The BigQuery schema in ``mlsys/schemas/{name}``."""
    import json

    from google.cloud import bigquery

    return [bigquery.SchemaField.from_api_repr(f) for f in json.loads(schema_text(name))]


def ensure_schema_table(client: bigquery.Client, table_id: str, schema_file: str) -> None:
    """Create ``table_id`` with the schema of ``schema_file`` if it is missing, and add the
    NULLABLE columns a newer schema file has (tables created by an older mlsys keep working)."""
    from google.cloud import bigquery

    wanted = schema_fields(schema_file)
    table = client.create_table(bigquery.Table(table_id, schema=wanted), exists_ok=True)
    have = {f.name for f in table.schema}
    missing = [f for f in wanted if f.name not in have and f.mode == "NULLABLE"]
    if missing:
        table.schema = [*table.schema, *missing]
        client.update_table(table, ["schema"])


def append_rows(
    client: bigquery.Client,
    table_id: str,
    rows: list[dict[str, Any]],
    row_ids: list[str],
    *,
    what: str,
) -> None:
    """Stream append-only rows keyed by ``row_ids``; an unreachable or refusing backend is
    :class:`~mlsys.errors.BackendUnavailable` (callers retry, nothing is half-written)."""
    from google.api_core import exceptions as gexc

    from mlsys.errors import AccessDenied, BackendUnavailable

    if not rows:
        return
    try:
        errors = client.insert_rows_json(table_id, rows, row_ids=row_ids)
    except (gexc.ServerError, gexc.TooManyRequests, gexc.NotFound) as exc:
        raise BackendUnavailable(f"cannot append {what} to {table_id}: {exc}") from exc
    except gexc.Forbidden as exc:  # this identity lacks bigquery.tables.updateData there
        if is_quota(exc):
            raise  # 403 quotaExceeded is a quota, not a grant: service.errors answers 429
        raise AccessDenied(f"may not append {what} to {table_id}: {exc.message}") from None
    if errors:
        raise BackendUnavailable(f"BigQuery refused {what} in {table_id}: {errors}")


def query_rows(
    client: bigquery.Client, sql: str, params: list[Any], *, what: str
) -> list[dict[str, Any]]:
    """Rows of a parameterized query over mlsys's own tables, as dicts. A refusal (the
    identity lacks a grant, e.g. the service on another environment) is
    :class:`~mlsys.errors.AccessDenied` naming ``what``; ``NotFound`` is the caller's to map."""
    from google.api_core import exceptions as gexc
    from google.cloud import bigquery

    from mlsys.errors import AccessDenied

    config = bigquery.QueryJobConfig(query_parameters=params)
    try:
        return [dict(row.items()) for row in client.query(sql, job_config=config).result()]
    except gexc.Forbidden as exc:
        if is_quota(exc):
            raise  # 403 quotaExceeded is a quota, not a grant: service.errors answers 429
        raise AccessDenied(f"may not read {what}: {exc.message}") from None


#: Reasons BigQuery gives with a 403 that are quotas and rate limits, not missing grants.
QUOTA_REASONS = frozenset({"quotaExceeded", "rateLimitExceeded"})


def is_quota(exc: Exception) -> bool:
    """Whether a Google 403 is a quota or rate limit (by its reason), not a refused grant."""
    errors = getattr(exc, "errors", None) or []
    return any(isinstance(e, dict) and e.get("reason") in QUOTA_REASONS for e in errors)
