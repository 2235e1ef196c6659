"""Where registry events live: a small Protocol, BigQuery for real, memory for fast tests.

The BigQuery store only ever APPENDS (streaming inserts keyed by the deterministic event id):
no DML per event, so concurrent deliveries never hit BigQuery's DML concurrency limits. The
``model_registry`` view derives the current state.
"""

from __future__ import annotations

import functools
import threading
from typing import Any, Protocol

from google.api_core import exceptions as gexc

from mlsys.errors import BackendUnavailable
from mlsys.registry.records import STATUS_REJECTED, RegistryEvent
from mlsys.registry.state import current_rows
from mlsys.settings import Settings, check_env, get_settings
from mlsys.tables import append_rows, query_rows, schema_fields, schema_text

EVENTS_TABLE = "model_registry_events"
VIEW = "model_registry"


class RegistryStore(Protocol):
    """What the registry needs from storage."""

    env: str

    def append(self, events: list[RegistryEvent]) -> None: ...

    def events(
        self,
        *,
        model_name: str | None = None,
        object_name: str | None = None,
        version: int | None = None,
    ) -> list[RegistryEvent]: ...

    def event_ids(self, bucket: str) -> set[str]: ...

    def rejections(
        self, *, object_prefix: str | None = None, search: str | None = None, limit: int = 50
    ) -> list[RegistryEvent]: ...

    def current(
        self, *, model_name: str | None = None, version: int | None = None
    ) -> list[dict[str, Any]]: ...


class BigQueryRegistryStore:
    """Registry events in ``{project}.mlsys_{env}.model_registry_events`` + the view."""

    def __init__(self, env: str, settings: Settings | None = None) -> None:
        from mlsys.clients import bigquery_client, make_bigquery_client

        self.env: str = check_env(env)
        self.settings = settings or get_settings()
        self.client = (
            bigquery_client(env) if settings is None else make_bigquery_client(settings, env)
        )
        self.dataset = self.settings.dataset_ref(env)
        self.table_id = f"{self.dataset}.{EVENTS_TABLE}"
        self.view_id = f"{self.dataset}.{VIEW}"
        # The whole view, and the stamp of the events it was read from (see current()).
        self._listing: tuple[tuple[Any, ...], list[dict[str, Any]]] | None = None
        self._listing_lock = threading.Lock()

    # -- set-up (Terraform does this on Google Cloud) -------------------------------------
    def ensure_tables(self) -> None:
        from google.cloud import bigquery

        table = bigquery.Table(self.table_id, schema=schema_fields("model_registry_events.json"))
        table.time_partitioning = bigquery.TimePartitioning(field="registered_at")
        table.clustering_fields = ["model_name", "model_version"]
        self.client.create_table(table, exists_ok=True)
        view = bigquery.Table(self.view_id)
        view.view_query = schema_text("model_registry_view.sql").replace("${dataset}", self.dataset)
        self.client.create_table(view, exists_ok=True)

    # -- writes ---------------------------------------------------------------------------
    def append(self, events: list[RegistryEvent]) -> None:
        append_rows(
            self.client,
            self.table_id,
            [e.to_row() for e in events],
            [e.event_id for e in events],
            what="registry rows",
        )

    # -- reads ----------------------------------------------------------------------------
    def _query(self, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        try:
            return query_rows(self.client, sql, params, what=f"the registry of {self.env}")
        except gexc.NotFound as exc:
            raise BackendUnavailable(
                f"the registry of {self.env} is missing ({exc.message}): provision it with "
                "Terraform, or `mlsys local up` locally"
            ) from None

    def events(
        self,
        *,
        model_name: str | None = None,
        object_name: str | None = None,
        version: int | None = None,
    ) -> list[RegistryEvent]:
        from google.cloud import bigquery

        where: list[str] = ["TRUE"]
        params: list[Any] = []
        if model_name is not None:
            where.append("model_name = @model_name")
            params.append(bigquery.ScalarQueryParameter("model_name", "STRING", model_name))
        if object_name is not None:
            where.append("object_name = @object_name")
            params.append(bigquery.ScalarQueryParameter("object_name", "STRING", object_name))
        if version is not None:
            where.append("model_version = @version")
            params.append(bigquery.ScalarQueryParameter("version", "INT64", version))
        sql = f"SELECT * FROM `{self.table_id}` WHERE {' AND '.join(where)} ORDER BY registered_at"
        return [RegistryEvent.from_row(r) for r in self._query(sql, params)]

    def event_ids(self, bucket: str) -> set[str]:
        from google.cloud import bigquery

        sql = f"SELECT DISTINCT event_id FROM `{self.table_id}` WHERE gcs_bucket = @bucket"
        params = [bigquery.ScalarQueryParameter("bucket", "STRING", bucket)]
        return {r["event_id"] for r in self._query(sql, params)}

    def rejections(
        self, *, object_prefix: str | None = None, search: str | None = None, limit: int = 50
    ) -> list[RegistryEvent]:
        """Rejected object events, newest first; ``object_prefix`` and ``search`` (a substring)
        match the object name ignoring case, so ``Iris/v1/model.pkl`` is found for ``iris/v1/``."""
        from google.cloud import bigquery

        where = ["status = @rejected"]
        params: list[Any] = [
            bigquery.ScalarQueryParameter("rejected", "STRING", STATUS_REJECTED),
            bigquery.ScalarQueryParameter("limit", "INT64", limit),
        ]
        if object_prefix:
            where.append("STARTS_WITH(LOWER(object_name), @prefix)")
            params.append(bigquery.ScalarQueryParameter("prefix", "STRING", object_prefix.lower()))
        if search:
            where.append("STRPOS(LOWER(object_name), @search) > 0")
            params.append(bigquery.ScalarQueryParameter("search", "STRING", search.lower()))
        sql = (
            f"SELECT * FROM `{self.table_id}` WHERE {' AND '.join(where)} "
            "ORDER BY registered_at DESC LIMIT @limit"
        )
        return _first_of_each([RegistryEvent.from_row(r) for r in self._query(sql, params)])

    def current(
        self, *, model_name: str | None = None, version: int | None = None
    ) -> list[dict[str, Any]]:
        from google.cloud import bigquery

        if model_name is None and version is None:
            return self._whole_view()
        where: list[str] = ["TRUE"]
        params: list[Any] = []
        if model_name is not None:
            where.append("model_name = @model_name")
            params.append(bigquery.ScalarQueryParameter("model_name", "STRING", model_name))
        if version is not None:
            where.append("model_version = @version")
            params.append(bigquery.ScalarQueryParameter("version", "INT64", version))
        return self._view_rows(where, params)

    def _view_rows(self, where: list[str], params: list[Any]) -> list[dict[str, Any]]:
        sql = (
            f"SELECT * FROM `{self.view_id}` WHERE {' AND '.join(where)} "
            "ORDER BY model_name, model_version"
        )
        rows = self._query(sql, params)
        for row in rows:
            row["tags"] = list(row.get("tags") or [])
        return rows

    def _whole_view(self) -> list[dict[str, Any]]:
        """Every current row, the view re-read only when the events changed.

        The events table is append-only, so its row count and newest time change with every
        event: a query of those two columns (0.2 s on the emulator) stands for the view's
        ranking of every event (0.6-0.8 s), which `mlsys models list` would otherwise wait for
        on each call (bench/cli.py). The stamp is read first: an event landing meanwhile makes
        the next stamp differ, never a stale answer.
        """
        sql = f"SELECT COUNT(*) AS n, MAX(registered_at) AS last FROM `{self.table_id}`"
        stamp = tuple(self._query(sql, [])[0].values())
        with self._listing_lock:
            cached = self._listing
        if cached is None or cached[0] != stamp:
            rows = self._view_rows(["TRUE"], [])
            cached = (stamp, rows)
            with self._listing_lock:
                self._listing = cached
        return [dict(row) for row in cached[1]]


class InMemoryRegistryStore:
    """The same contract in memory, for fast unit tests of registry logic."""

    def __init__(self, env: str) -> None:
        self.env: str = check_env(env)
        self._events: list[RegistryEvent] = []
        self._lock = threading.Lock()

    def append(self, events: list[RegistryEvent]) -> None:
        with self._lock:
            self._events.extend(events)

    def events(
        self,
        *,
        model_name: str | None = None,
        object_name: str | None = None,
        version: int | None = None,
    ) -> list[RegistryEvent]:
        with self._lock:
            return sorted(
                (
                    e
                    for e in self._events
                    if (model_name is None or e.model_name == model_name)
                    and (object_name is None or e.object_name == object_name)
                    and (version is None or e.model_version == version)
                ),
                key=lambda e: e.registered_at,
            )

    def event_ids(self, bucket: str) -> set[str]:
        with self._lock:
            return {e.event_id for e in self._events if e.gcs_bucket == bucket}

    def rejections(
        self, *, object_prefix: str | None = None, search: str | None = None, limit: int = 50
    ) -> list[RegistryEvent]:
        with self._lock:
            found = [
                e
                for e in self._events
                if e.status == STATUS_REJECTED
                and (
                    not object_prefix
                    or (e.object_name or "").lower().startswith(object_prefix.lower())
                )
                and (not search or search.lower() in (e.object_name or "").lower())
            ]
        found.sort(key=lambda e: e.registered_at, reverse=True)
        return _first_of_each(found[:limit])

    def current(
        self, *, model_name: str | None = None, version: int | None = None
    ) -> list[dict[str, Any]]:
        with self._lock:
            rows = current_rows(list(self._events))
        return [
            r
            for r in rows
            if (model_name is None or r["model_name"] == model_name)
            and (version is None or r["model_version"] == version)
        ]


def _first_of_each(events: list[RegistryEvent]) -> list[RegistryEvent]:
    """Drop repeated rows of one event id (a redelivery the streaming API let through)."""
    first: dict[str, RegistryEvent] = {}
    for event in events:
        first.setdefault(event.event_id, event)
    return list(first.values())


@functools.cache
def registry_store(env: str) -> RegistryStore:
    """The store of ``env`` for this process (the one place a backend is chosen)."""
    return BigQueryRegistryStore(env)
