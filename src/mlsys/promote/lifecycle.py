"""A version's lifecycle stage, derived (never stored) from the registries, aliases and audit.

- ``draft``: registered in dev only;
- ``staging``: registered in staging or prod, but not the champion of prod (a replaced
  production version stays here, with its ``previous`` alias, until it is archived);
- ``production``: the ``champion`` of prod;
- ``archived``: archived with ``mlsys archive`` in any environment, or deleted everywhere it was
  registered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field

from mlsys import audit
from mlsys.errors import ModelNotFound, VersionInUse, VersionNotFound
from mlsys.registry import list_versions
from mlsys.registry.aliases import CHAMPION, current_aliases
from mlsys.registry.contract import check_model_name, parse_version
from mlsys.registry.records import STATUS_REGISTERED
from mlsys.settings import ENVIRONMENTS, check_env

Stage = Literal["draft", "staging", "production", "archived"]


class VersionStage(BaseModel):
    """Where one version is and what stage that makes it."""

    model_version: int
    version_label: str
    stage: Stage
    environments: dict[str, str] = Field(
        default_factory=dict, description="env -> registry status (registered, deleted)"
    )
    aliases: list[str] = Field(default_factory=list, description="env:alias, e.g. prod:champion")
    archived_in: list[str] = Field(default_factory=list)


@dataclass
class ArchiveResult:
    model_name: str
    version: int
    env: str
    changed: bool
    message: str
    entries: list[audit.AuditEntry] = field(default_factory=list)


def archived_versions(env: str, model_name: str) -> set[int]:
    """Versions archived with ``mlsys archive`` in ``env``."""
    entries = audit.history(model_name, env=env, actions=("archive",))
    return {e.model_version for e in entries if e.model_version is not None}


def version_stages(model_name: str) -> list[VersionStage]:
    """The stage of every version of a model known in any environment."""
    check_model_name(model_name)
    statuses: dict[int, dict[str, str]] = {}
    aliases: dict[int, list[str]] = {}
    for env in ENVIRONMENTS:
        try:
            for v in list_versions(env, model_name):
                statuses.setdefault(v.model_version, {})[env] = v.status
        except ModelNotFound:
            continue
        for name, row in current_aliases(env, model_name).items():
            aliases.setdefault(row.model_version, []).append(f"{env}:{name}")
    archived: dict[int, list[str]] = {}
    for entry in audit.history(model_name, actions=("archive",)):
        if entry.model_version is not None:
            archived.setdefault(entry.model_version, []).append(entry.environment)
    if not statuses:
        raise ModelNotFound(f"model {model_name!r} is not registered in any environment")
    return [
        VersionStage(
            model_version=version,
            version_label=f"v{version}",
            stage=_stage(envs, aliases.get(version, []), archived.get(version, [])),
            environments=envs,
            aliases=sorted(aliases.get(version, [])),
            archived_in=sorted(set(archived.get(version, []))),
        )
        for version, envs in sorted(statuses.items())
    ]


def _stage(envs: dict[str, str], aliases: list[str], archived_in: list[str]) -> Stage:
    live = {env for env, status in envs.items() if status == STATUS_REGISTERED}
    if archived_in or not live:
        return "archived"
    if f"prod:{CHAMPION}" in aliases:
        return "production"
    if live & {"staging", "prod"}:
        return "staging"
    return "draft"


def archive(model_name: str, version: str | int, *, env: str) -> ArchiveResult:
    """Mark a version archived in ``env`` (an audit row); the champion cannot be archived."""
    check_env(env)
    number = parse_version(version)
    known = {v.model_version for v in list_versions(env, model_name)}
    if number not in known:
        raise VersionNotFound(f"model {model_name!r} has no version v{number} in {env}")
    champion = current_aliases(env, model_name).get(CHAMPION)
    if champion is not None and champion.model_version == number:
        raise VersionInUse(
            f"v{number} of {model_name!r} is the champion of {env}: promote another version "
            f"or roll back (`mlsys rollback {model_name} --env {env}`) before archiving it"
        )
    if number in archived_versions(env, model_name):
        return ArchiveResult(
            model_name,
            number,
            env,
            False,
            f"v{number} of {model_name} is already archived in {env}",
        )
    entry = audit.new_entry(
        env,
        "archive",
        model_name=model_name,
        model_version=number,
        details=f"archived v{number} in {env}",
    )
    audit.record(entry)
    return ArchiveResult(
        model_name, number, env, True, f"archived v{number} of {model_name} in {env}", [entry]
    )


class ModelHistory(BaseModel):
    """What ``mlsys models history`` and ``GET /models/{name}/history`` show."""

    model_name: str
    environment: str | None = Field(None, description="the audit's environment; None: all")
    stages: list[VersionStage]
    audit: list[audit.AuditEntry]


def model_history(model_name: str, *, env: str | None = None) -> ModelHistory:
    """Every version's stage and the audit trail (one env, or all), oldest first."""
    check_model_name(model_name)
    entries = audit.history(model_name, env=env)
    try:
        stages = version_stages(model_name)
    except ModelNotFound:
        if not entries:
            raise
        stages = []  # every version is gone, the trail remains
    return ModelHistory(model_name=model_name, environment=env, stages=stages, audit=entries)
