"""A version's lifecycle stage, derived (never stored) from the registries, aliases and audit.

- ``draft``: registered in dev only;
- ``staging``: registered in staging or prod, but not the champion of prod (a replaced
  production version stays here, with its ``previous`` alias, until it is archived);
- ``production``: the ``champion`` of prod;
- ``archived``: live nowhere: in every environment where it was registered, it was archived with
  ``mlsys archive`` or deleted. (Archiving it in prod only leaves it ``staging`` or ``draft``
  while it lives in staging or dev.)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field

from mlsys import audit
from mlsys.errors import ModelNotFound, VersionArchived, VersionInUse, VersionNotFound
from mlsys.registry import ModelVersion, list_versions
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
        default_factory=dict,
        description="env -> registered, deleted, or archived (registered, then `mlsys archive`)",
    )
    aliases: list[str] = Field(default_factory=list, description="env:alias, e.g. prod:champion")
    archived_in: list[str] = Field(default_factory=list)


@dataclass
class ArchiveResult:
    model_name: str
    version: int
    envs: list[str]
    archived: list[str]  # the envs where this call archived it (empty: nothing to do)
    message: str
    entries: list[audit.AuditEntry] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.archived)


class ModelVersionState(ModelVersion):
    """A registry row with its state in that environment: archived or not (audit trail)."""

    archived: bool = Field(False, description="retired with `mlsys archive` in this env")
    archived_at: dt.datetime | None = None
    archived_by: str | None = None


def archive_entries(env: str, model_name: str) -> dict[int, audit.AuditEntry]:
    """The (first) ``archive`` audit row of each version archived in ``env``."""
    marks: dict[int, audit.AuditEntry] = {}
    for entry in audit.history(model_name, env=env, actions=("archive",)):
        if entry.model_version is not None:
            marks.setdefault(entry.model_version, entry)
    return marks


def archived_versions(env: str, model_name: str) -> set[int]:
    """Versions archived with ``mlsys archive`` in ``env``."""
    return set(archive_entries(env, model_name))


def with_state(env: str, versions: list[ModelVersion]) -> list[ModelVersionState]:
    """The versions (of one model, in ``env``) with their archived state: what ``mlsys models
    show`` and ``GET /models/{name}/versions[/{version}]`` display."""
    if not versions:
        return []
    marks = archive_entries(env, versions[0].model_name)
    states = []
    for v in versions:
        mark = marks.get(v.model_version)
        states.append(
            ModelVersionState(
                **v.model_dump(),
                archived=mark is not None,
                archived_at=mark.created_at if mark else None,
                archived_by=mark.actor if mark else None,
            )
        )
    return states


def check_not_archived(env: str, version: ModelVersion) -> None:
    """Raise :class:`VersionArchived` (409) if ``version`` was archived in ``env``: a retired
    version never predicts by accident (``allow_archived`` skips this check)."""
    mark = archive_entries(env, version.model_name).get(version.model_version)
    if mark is None:
        return
    raise VersionArchived(
        f"{version.version_label} of {version.model_name!r} was archived in {env} "
        f"({mark.created_at:%Y-%m-%d %H:%M} by {mark.actor or 'unknown'}): predict with a live "
        "version, or pass allow_archived (`mlsys predict --allow-archived`, "
        '`"allow_archived": true` in POST /predict) to use it anyway',
        details={"model_name": version.model_name, "model_version": version.model_version},
    )


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
            environments=_shown(envs, archived.get(version, [])),
            aliases=sorted(aliases.get(version, [])),
            archived_in=sorted(set(archived.get(version, []))),
        )
        for version, envs in sorted(statuses.items())
    ]


def _shown(envs: dict[str, str], archived_in: list[str]) -> dict[str, str]:
    """Each env's registry status, ``archived`` where the version was archived there."""
    return {
        e: "archived" if e in archived_in and status == STATUS_REGISTERED else status
        for e, status in envs.items()
    }


def _stage(envs: dict[str, str], aliases: list[str], archived_in: list[str]) -> Stage:
    live = {e for e, status in envs.items() if status == STATUS_REGISTERED and e not in archived_in}
    if not live:
        return "archived"
    if f"prod:{CHAMPION}" in aliases:
        return "production"
    if live & {"staging", "prod"}:
        return "staging"
    return "draft"


def archive(model_name: str, version: str | int, *, env: str | None = None) -> ArchiveResult:
    """Mark a version archived (an audit row) in ``env``, or in every env where it is
    registered; a version that is a champion anywhere it would be archived is refused."""
    number = parse_version(version)
    envs: list[str] = [check_env(env)] if env else _registered_in(model_name, number)
    if not envs:
        raise VersionNotFound(f"model {model_name!r} has no registered v{number} anywhere")
    for one in envs:
        if number not in {v.model_version for v in list_versions(one, model_name)}:
            raise VersionNotFound(f"model {model_name!r} has no version v{number} in {one}")
        champion = current_aliases(one, model_name).get(CHAMPION)
        if champion is not None and champion.model_version == number:
            raise VersionInUse(
                f"v{number} of {model_name!r} is the champion of {one}: promote another version "
                f"or roll back (`mlsys rollback {model_name} --env {one}`) before archiving it"
            )
    todo = [one for one in envs if number not in archived_versions(one, model_name)]
    where = ", ".join(todo or envs)
    if not todo:
        message = f"v{number} of {model_name} is already archived in {where}: nothing to do"
        return ArchiveResult(model_name, number, envs, [], message)
    entries = [
        audit.new_entry(
            one,
            "archive",
            model_name=model_name,
            model_version=number,
            details=f"archived v{number} in {one}",
        )
        for one in todo
    ]
    audit.record(*entries)
    message = f"archived v{number} of {model_name} in {where}"
    return ArchiveResult(model_name, number, envs, todo, message, entries)


def _registered_in(model_name: str, number: int) -> list[str]:
    envs: list[str] = []
    for env in ENVIRONMENTS:
        try:
            versions = list_versions(env, model_name, include_deleted=False)
        except ModelNotFound:
            continue
        if any(v.model_version == number for v in versions):
            envs.append(env)
    return envs


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
