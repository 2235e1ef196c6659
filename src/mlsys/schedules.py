"""Declarative prediction schedules: ``schedules.yaml`` at the repository root.

The same file feeds Terraform (``infra/modules/mlsys/scheduler.tf``: one Cloud Scheduler job
per schedule and environment, calling ``POST /predict`` with an OIDC token) and
``mlsys schedules list``. This module validates it with the library's own rules (model names,
table ids), so a bad entry fails in CI, not at 3 a.m.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mlsys.errors import ConfigError, MlsysError
from mlsys.identifiers import parse_table_id
from mlsys.registry.contract import check_model_name
from mlsys.settings import ENVIRONMENTS, Environment, check_env, find_project_root, get_settings

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
#: One cron field: numbers, ranges, steps, lists, names (MON, JAN) or ``*``.
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*/,\-]+$")
_VERSION_RE = re.compile(
    r"^(latest|v?[1-9][0-9]{0,8}|[a-uw-z][a-z0-9_-]{0,62}|v[a-z_-][a-z0-9_-]*)$"
)
#: Any project id that passes validation; tables without a project run in the env's project.
_SOME_PROJECT = "mlsys-check"


class Schedule(BaseModel):
    """One scheduled prediction: what to predict, where, when and in which environments."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    envs: tuple[Environment, ...] = Field(min_length=1)
    cron: str
    model: str
    version: str = "latest"
    input_table: str
    output_table: str
    tasks: int = Field(1, ge=1, le=1000, description="> 1: a sharded Cloud Run Job execution")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME_RE.match(value):
            raise ValueError("expected lowercase letters, digits and hyphens, at most 40")
        return value

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        fields = value.split()
        if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
            raise ValueError("expected five cron fields, e.g. '0 3 * * *'")
        return " ".join(fields)

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        return _as_value_error(check_model_name, value)

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> str:
        text = str(value).strip()
        if not _VERSION_RE.match(text):
            raise ValueError("expected N, vN, latest or an alias name")
        return text

    @field_validator("input_table", "output_table")
    @classmethod
    def _table(cls, value: str) -> str:
        _as_value_error(lambda v: parse_table_id(v, default_project=_SOME_PROJECT), value)
        return value

    def job_name(self, env: str) -> str:
        """The Cloud Scheduler job Terraform creates for ``env``."""
        return f"mlsys-{check_env(env)}-{self.name}"

    def request(self, env: str) -> dict[str, Any]:
        """The ``POST /predict`` body Cloud Scheduler sends (see scheduler.tf)."""
        return {
            "env": check_env(env),
            "model_name": self.model,
            "model_version": self.version,
            "input_table": self.input_table,
            "output_table": self.output_table,
            "engine": "cloud-run-job" if self.tasks > 1 else "service",
            "parallelism": self.tasks,
            "async": True,
        }


def _as_value_error(check: Any, value: str) -> Any:
    try:
        return check(value)
    except MlsysError as exc:  # pydantic reports ValueErrors with the field's location
        raise ValueError(exc.message) from None


def schedules_path(path: str | Path | None = None) -> Path:
    target = Path(path or get_settings().schedules_config)
    return target if target.is_absolute() else find_project_root() / target


def load_schedules(path: str | Path | None = None) -> list[Schedule]:
    """Every schedule of ``schedules.yaml`` (or ``MLSYS_SCHEDULES_CONFIG``), validated."""
    target = schedules_path(path)
    try:
        data = yaml.safe_load(target.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"schedules file {target} does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{target} is not valid YAML: {exc}") from None
    return parse_schedules(data, str(target))


def parse_schedules(data: Any, source: str = "schedules.yaml") -> list[Schedule]:
    if not isinstance(data, dict) or set(data) - {"schedules"}:
        raise ConfigError(f"{source}: expected one top-level key 'schedules' (a list)")
    items = data.get("schedules") or []
    if not isinstance(items, list):
        raise ConfigError(f"{source}: 'schedules' must be a list")
    schedules = []
    for i, item in enumerate(items):
        try:
            schedules.append(Schedule.model_validate(item))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'entry'}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(f"{source}: schedule #{i + 1}: {problems}") from None
    names = [s.name for s in schedules]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"{source}: schedule names must be unique, repeated: {', '.join(twice)}")
    return schedules


def schedules_for(env: str, schedules: list[Schedule] | None = None) -> list[Schedule]:
    """The schedules that run in ``env``."""
    check_env(env)
    return [s for s in (schedules if schedules is not None else load_schedules()) if env in s.envs]


__all__ = ["ENVIRONMENTS", "Schedule", "load_schedules", "parse_schedules", "schedules_for"]
