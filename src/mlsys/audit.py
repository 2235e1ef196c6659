"""The audit trail: one append-only row per registry action in ``mlsys_{env}.registry_audit``.

Registrations (written by the registry function), promotions, refused promotions, alias
changes, rollbacks and archives each append a row: who, what, which model and version, from
and to which environment, the gate results, when. Rows are never updated; a row id makes a
retried write land once (registrations reuse the registry event id, so a redelivered event
never audits twice, and readers drop any duplicate the streaming API let through).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from google.api_core import exceptions as gexc

from mlsys.errors import BackendUnavailable
from mlsys.settings import ENVIRONMENTS, Settings, check_env, get_settings
from mlsys.tables import append_rows, ensure_schema_table, query_rows

log = logging.getLogger("mlsys.audit")

AUDIT_TABLE = "registry_audit"
SCHEMA_FILE = "registry_audit.json"

#: Actions a row can record (``action`` column).
ACTIONS = (
    "register",
    "delete",
    "reject",
    "promote",
    "promotion_refused",
    "alias",
    "rollback",
    "archive",
)


@dataclass(frozen=True)
class AuditEntry:
    """One row of ``registry_audit``."""

    audit_id: str
    action: str
    environment: str
    created_at: dt.datetime
    actor: str | None = None
    model_name: str | None = None
    model_version: int | None = None
    from_env: str | None = None
    to_env: str | None = None
    alias: str | None = None
    previous_version: int | None = None
    gate_results: list[dict[str, Any]] | None = None
    details: str | None = None

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["created_at"] = self.created_at.astimezone(dt.UTC).isoformat()
        row["gate_results"] = json.dumps(self.gate_results) if self.gate_results else None
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> AuditEntry:
        from mlsys.registry.records import parse_time

        data: dict[str, Any] = {k: row.get(k) for k in cls.__dataclass_fields__}
        data["created_at"] = parse_time(data["created_at"])
        gates = data.get("gate_results")
        data["gate_results"] = json.loads(gates) if isinstance(gates, str) and gates else None
        return cls(**data)


def new_entry(
    env: str,
    action: str,
    *,
    audit_id: str | None = None,
    at: dt.datetime | None = None,
    **fields: Any,
) -> AuditEntry:
    """An entry stamped now (or ``at``) by the current actor unless ``actor`` is given."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}: expected one of {', '.join(ACTIONS)}")
    if "actor" not in fields:
        fields["actor"] = get_settings().actor_name()
    return AuditEntry(
        audit_id=audit_id or f"{action}-{uuid.uuid4().hex}",
        action=action,
        environment=check_env(env),
        created_at=at or dt.datetime.now(dt.UTC),
        **fields,
    )


def table_id(env: str, settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    return f"{settings.dataset_ref(env)}.{AUDIT_TABLE}"


def ensure_table(env: str, settings: Settings | None = None) -> None:
    """Create ``registry_audit`` if missing (Terraform owns it on Google Cloud)."""
    from mlsys.clients import make_bigquery_client

    settings = settings or get_settings()
    ensure_schema_table(make_bigquery_client(settings, env), table_id(env, settings), SCHEMA_FILE)


def record(*entries: AuditEntry) -> None:
    """Append entries (grouped per environment), keyed by ``audit_id``."""
    from mlsys.clients import bigquery_client

    by_env: dict[str, list[AuditEntry]] = {}
    for entry in entries:
        by_env.setdefault(entry.environment, []).append(entry)
    for env, rows in by_env.items():
        append_rows(
            bigquery_client(env),
            table_id(env),
            [r.to_row() for r in rows],
            [r.audit_id for r in rows],
            what="audit rows",
        )


def record_registration(event: Any) -> None:
    """Audit what the registry function just recorded for a model artifact.

    Called right after the registry row was appended, so a failure here can never lose the
    registration: it raises :class:`BackendUnavailable`, the function answers 500 and Eventarc
    redelivers; the registry row and the audit row are both keyed by the event id, so the
    redelivery adds neither twice.
    """
    action = {"registered": "register", "deleted": "delete", "rejected": "reject"}.get(event.status)
    if action is None or event.environment is None or event.model_name is None:
        return
    if event.object_kind != "model" and action != "reject":
        return  # metadata.json rides along with its model's registration
    record(
        new_entry(
            event.environment,
            action,
            audit_id=f"{action}-{event.event_id}",
            at=event.registered_at,
            actor=event.uploader,
            model_name=event.model_name,
            model_version=event.model_version,
            details=event.reject_reason or f"{event.artifact_uri}#{event.generation}",
        )
    )


def history(
    model_name: str, *, env: str | None = None, actions: tuple[str, ...] | None = None
) -> list[AuditEntry]:
    """The audit trail of a model, oldest first: one env, or all three when ``env`` is None.

    With all environments, an environment whose dataset does not exist (e.g. not provisioned
    yet) contributes nothing instead of failing the whole read.
    """
    envs = [check_env(env)] if env else list(ENVIRONMENTS)
    entries: dict[str, AuditEntry] = {}
    for one in envs:
        for entry in _read(one, model_name, missing_ok=env is None):
            entries.setdefault(entry.audit_id, entry)  # drop streaming duplicates
    rows = sorted(entries.values(), key=lambda e: (e.created_at, e.audit_id))
    return [e for e in rows if actions is None or e.action in actions]


def _read(env: str, model_name: str, *, missing_ok: bool) -> list[AuditEntry]:
    from google.cloud import bigquery

    from mlsys.clients import bigquery_client

    sql = f"SELECT * FROM `{table_id(env)}` WHERE model_name = @model_name ORDER BY created_at"
    params = [bigquery.ScalarQueryParameter("model_name", "STRING", model_name)]
    try:
        rows = query_rows(bigquery_client(env), sql, params, what=f"the audit trail of {env}")
        return [AuditEntry.from_row(r) for r in rows]
    except gexc.NotFound as exc:
        if missing_ok:
            log.info("no audit trail in %s: %s", env, exc.message)
            return []
        raise BackendUnavailable(
            f"the audit trail of {env} is missing ({exc.message}): provision it with "
            "Terraform, or `mlsys local up` locally"
        ) from None
