"""Version aliases (``champion``, ``previous``) per model and environment.

Aliases live in ``mlsys_{env}.model_aliases`` as append-only rows: moving an alias appends a row
with the next ``revision`` of that (model, alias), never an UPDATE, so there is no DML per change
and the table is also the alias history. The current alias is the row with the highest revision
(then the latest ``assigned_at``) per (model, alias), derived by :data:`CURRENT_SQL`. Each alias
points at exactly one version, so there is one champion per model per environment.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from google.api_core import exceptions as gexc

from mlsys.errors import BackendUnavailable, InvalidVersion, VersionNotFound
from mlsys.registry.contract import check_model_name
from mlsys.settings import Settings, check_env, get_settings
from mlsys.tables import append_rows, ensure_schema_table, query_rows

ALIASES_TABLE = "model_aliases"
SCHEMA_FILE = "model_aliases.json"
CHAMPION = "champion"
PREVIOUS = "previous"
ALIAS_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
RESERVED = ("latest",)

#: One current row per (model, alias): the highest revision wins, then the latest write.
CURRENT_SQL = """
SELECT * EXCEPT (pos) FROM (
  SELECT a.*, ROW_NUMBER() OVER (
    PARTITION BY a.model_name, a.alias ORDER BY a.revision DESC, a.assigned_at DESC
  ) AS pos
  FROM `{table}` AS a
  WHERE a.model_name = @model_name
)
WHERE pos = 1
ORDER BY alias
"""


@dataclass(frozen=True)
class AliasRow:
    """One row of ``model_aliases``: from ``assigned_at`` on, ``alias`` means ``model_version``."""

    alias_id: str
    model_name: str
    alias: str
    model_version: int
    revision: int
    environment: str
    assigned_at: dt.datetime
    assigned_by: str | None = None
    reason: str | None = None

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["assigned_at"] = self.assigned_at.astimezone(dt.UTC).isoformat()
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> AliasRow:
        from mlsys.registry.records import parse_time

        data: dict[str, Any] = {k: row.get(k) for k in cls.__dataclass_fields__}
        data["assigned_at"] = parse_time(data["assigned_at"])
        return cls(**data)


def check_alias(alias: str) -> str:
    """A valid alias name: lowercase, not ``latest`` and not a version (``v3``, ``3``)."""
    if not ALIAS_RE.match(alias or "") or alias in RESERVED or re.match(r"^v[0-9]", alias):
        raise InvalidVersion(
            f"invalid alias {alias!r}: expected a lowercase name such as 'champion' that is "
            "not 'latest', 'vN' or 'N'"
        )
    return alias


def table_id(env: str, settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    return f"{settings.dataset_ref(env)}.{ALIASES_TABLE}"


def ensure_table(env: str, settings: Settings | None = None) -> None:
    """Create ``model_aliases`` if missing (Terraform owns it on Google Cloud)."""
    from mlsys.clients import make_bigquery_client

    settings = settings or get_settings()
    ensure_schema_table(make_bigquery_client(settings, env), table_id(env, settings), SCHEMA_FILE)


def current_aliases(env: str, model_name: str, *, missing_ok: bool = False) -> dict[str, AliasRow]:
    """Every alias of a model in ``env`` and the row that set it, by alias name.

    ``missing_ok``: an environment without the aliases table has no aliases (for reads that
    only resolve; writers must see the missing table).
    """
    from google.cloud import bigquery

    from mlsys.clients import bigquery_client

    check_env(env)
    check_model_name(model_name)
    sql = CURRENT_SQL.format(table=table_id(env))
    params = [bigquery.ScalarQueryParameter("model_name", "STRING", model_name)]
    try:
        rows = query_rows(bigquery_client(env), sql, params, what=f"the aliases of {env}")
    except gexc.NotFound as exc:
        if missing_ok:
            return {}
        raise BackendUnavailable(
            f"the aliases of {env} are missing ({exc.message}): provision them with "
            "Terraform, or `mlsys local up` locally"
        ) from None
    current = [AliasRow.from_row(r) for r in rows]
    return {row.alias: row for row in current}


def alias_of_models(env: str, alias: str = CHAMPION) -> dict[str, AliasRow]:
    """The current ``alias`` of every model of ``env`` in one query (lists of models)."""
    from google.cloud import bigquery

    from mlsys.clients import bigquery_client

    check_alias(alias)
    sql = (
        "SELECT * EXCEPT (pos) FROM (SELECT a.*, ROW_NUMBER() OVER (PARTITION BY a.model_name "
        "ORDER BY a.revision DESC, a.assigned_at DESC) AS pos "
        f"FROM `{table_id(check_env(env))}` AS a WHERE a.alias = @alias) WHERE pos = 1"
    )
    params = [bigquery.ScalarQueryParameter("alias", "STRING", alias)]
    try:
        rows = (
            bigquery_client(env)
            .query(sql, job_config=bigquery.QueryJobConfig(query_parameters=params))
            .result()
        )
    except gexc.NotFound:  # no aliases table: no aliases
        return {}
    current = [AliasRow.from_row(dict(r.items())) for r in rows]
    return {row.model_name: row for row in current}


def resolve_alias(env: str, model_name: str, alias: str) -> int:
    """The version number an alias points at in ``env``."""
    check_alias(alias)
    aliases = current_aliases(env, model_name, missing_ok=True)
    if alias not in aliases:
        known = ", ".join(f"{a} -> v{r.model_version}" for a, r in aliases.items()) or "none"
        raise VersionNotFound(
            f"unknown version {alias!r} for {model_name!r} in {env}: expected 'vN', 'N', "
            f"'latest' or an alias (aliases: {known})"
        )
    return aliases[alias].model_version


def set_aliases(
    env: str,
    model_name: str,
    targets: dict[str, int],
    *,
    reason: str,
    current: dict[str, AliasRow] | None = None,
) -> list[AliasRow]:
    """Point each alias of ``targets`` at its version, in one append; returns the new rows.

    Aliases that already point at the wanted version are left alone (no row).
    """
    from mlsys.clients import bigquery_client

    current = current if current is not None else current_aliases(env, model_name)
    now = dt.datetime.now(dt.UTC)
    actor = get_settings().actor_name()
    rows = []
    for alias, version in targets.items():
        before = current.get(check_alias(alias))
        if before is not None and before.model_version == version:
            continue
        revision = (before.revision if before else 0) + 1
        rows.append(
            AliasRow(
                alias_id=f"{model_name}/{alias}/{revision}/{uuid.uuid4().hex[:12]}",
                model_name=model_name,
                alias=alias,
                model_version=version,
                revision=revision,
                environment=env,
                assigned_at=now,
                assigned_by=actor,
                reason=reason,
            )
        )
    append_rows(
        bigquery_client(env),
        table_id(env),
        [r.to_row() for r in rows],
        [r.alias_id for r in rows],
        what="alias rows",
    )
    return rows
