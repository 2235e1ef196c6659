"""Declarative prediction schedules: ``schedules.yaml`` at the repository root.

The same file feeds Terraform (``infra/modules/mlsys/scheduler.tf``: one Cloud Scheduler job
per schedule and environment, calling ``POST /predict`` with an OIDC token; the service starts a
Cloud Run Job execution whose job id derives from the schedule's name and fire time, so a double
fire writes once) and ``mlsys schedules list``. This module validates each entry with the
prediction request's own rules, so a bad entry fails in CI, not at 3 a.m.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlsys.errors import ConfigError, MlsysError
from mlsys.settings import ENVIRONMENTS, Environment, check_env, find_project_root, get_settings

if TYPE_CHECKING:
    from mlsys.predict.request import PredictionRequest

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
#: One cron field: numbers, ranges, steps, lists, names (MON, JAN) or ``*``.
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*/,\-]+$")
#: ``{env}`` in a table id is the environment the schedule runs in (mlsys_predictions_{env}).
ENV_PLACEHOLDER = "{env}"


class Schedule(BaseModel):
    """One scheduled prediction: what to predict, where, when and in which environments.

    What to predict is a :class:`~mlsys.predict.PredictionRequest` per environment, validated by
    the request's own rules (the same ones the service applies to the scheduler's body).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    envs: tuple[Environment, ...] = Field(min_length=1)
    cron: str
    model: str
    version: str = "latest"
    input_table: str
    output_table: str
    tasks: int = Field(1, ge=1, description="shards of the Cloud Run Job execution")

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

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> str:
        return str(value).strip()

    @model_validator(mode="after")
    def _requests(self) -> Schedule:
        for env in self.envs:
            self.prediction_request(env)  # raises ValueError naming the bad field
        return self

    def job_name(self, env: str) -> str:
        """The Cloud Scheduler job Terraform creates for ``env``."""
        return f"mlsys-{check_env(env)}-{self.name}"

    def request(self, env: str) -> dict[str, Any]:
        """The ``POST /predict`` body Cloud Scheduler sends (see scheduler.tf): always a job
        execution, its job id derived from the schedule's name and fire time."""
        return self.prediction_request(env).model_dump(
            mode="json", exclude_none=True, exclude={"run_async", "allow_archived", "shard_key"}
        )

    def prediction_request(self, env: str) -> PredictionRequest:
        """The typed request this schedule sends in ``env``."""
        from mlsys.predict.request import PredictionRequest

        try:
            return PredictionRequest.parse(
                {
                    "env": check_env(env),
                    "model_name": self.model,
                    "model_version": self.version,
                    "input_table": self.input_table.replace(ENV_PLACEHOLDER, env),
                    "output_table": self.output_table.replace(ENV_PLACEHOLDER, env),
                    "engine": "job",
                    "tasks": self.tasks,
                    "schedule": self.name,
                }
            )
        except MlsysError as exc:  # pydantic reports ValueErrors with the schedule's location
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
