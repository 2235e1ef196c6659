"""What to predict: ONE typed request, validated once at the edge.

The service (``POST /predict`` body), the CLI (``mlsys predict``) and schedules
(``schedules.yaml``) all build a :class:`PredictionRequest`; everything below the edge takes the
validated object. Only checks that need no I/O live here; :func:`mlsys.predict.plan.plan`
checks the tables and the model.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Iterator
from enum import StrEnum
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from mlsys.errors import InvalidInput, InvalidVersion, MlsysError
from mlsys.identifiers import check_column, parse_table_id
from mlsys.predict.columns import RESERVED
from mlsys.predict.records import JOB_ID_RE, check_job_id
from mlsys.registry.contract import MODEL_NAME_RE, check_model_name
from mlsys.settings import ENVIRONMENTS, check_env

#: Most tasks one job may have (Cloud Run Jobs allow 10,000; this bounds the publish SQL).
MAX_TASKS = 1000
#: Any valid project id: table ids without a project get the environment's at plan time.
_SOME_PROJECT = "mlsys-check"
#: vN / N (N >= 1), latest, or an alias (which never looks like a version: v0 is neither).
_VERSION_RE = re.compile(r"^(latest|v?[1-9][0-9]{0,8}|(?!v?[0-9]+$)[a-z][a-z0-9_-]{0,62})$")


class Engine(StrEnum):
    """Where a job runs: in the prediction service's process, or as a Cloud Run Job execution
    (``tasks`` shards; durable: nothing runs in the service after its answer)."""

    SERVICE = "service"
    JOB = "job"


class WriteDisposition(StrEnum):
    """``append`` adds the job's rows; ``truncate`` replaces the output's rows (its schema
    stays). Both publish in one transaction, once."""

    APPEND = "append"
    TRUNCATE = "truncate"


class PredictionRequest(BaseModel):
    """A batch prediction from a BigQuery table into a BigQuery table.

    The library's checks (table ids, env, model name, version, job id, id columns) raise their
    own errors from the validators, so each mistake keeps its code (``INVALID_TABLE_ID``, ...)
    on every edge; type errors are ``INVALID_REQUEST``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    env: str | None = Field(
        None,
        description="dev, staging or prod (default: MLSYS_ENV)",
        json_schema_extra={"enum": [*ENVIRONMENTS, None]},
    )
    input_table: str = Field(..., description="project.dataset.table (or dataset.table) to read")
    output_table: str = Field(
        ..., description="project.dataset.table to write (created at publish if missing)"
    )
    model_name: str = Field(
        ..., description="a registered model", json_schema_extra={"pattern": MODEL_NAME_RE.pattern}
    )
    model_version: str = Field("latest", description="vN, N, latest or an alias (champion)")
    id_columns: tuple[str, ...] | None = Field(
        None, description="input columns copied to the output (default: every non-feature)"
    )
    write_disposition: WriteDisposition = WriteDisposition.APPEND
    job_id: str | None = Field(
        None,
        description="letters, digits, - and _ (no '__'); a retry with the same id never "
        "writes twice",
        json_schema_extra={"pattern": JOB_ID_RE.pattern},
    )
    engine: Engine = Field(Engine.SERVICE, description="service (answers when done) or job")
    tasks: int = Field(
        1, ge=1, le=MAX_TASKS, description="shards of the job engine (Cloud Run tasks)"
    )
    shard_key: str | None = Field(
        None, description="integer or string column that splits the input into shards"
    )
    chunk_rows: int | None = Field(
        None, ge=1, le=1_000_000, description="rows per streamed chunk (MLSYS_PREDICT_CHUNK_ROWS)"
    )
    allow_archived: bool = Field(
        False, description="predict with an archived version anyway (else 409 VERSION_ARCHIVED)"
    )
    shadow_version: str | None = Field(
        None,
        description="a challenger version (vN, N or an alias) scoring the same rows into "
        "{output_table}__shadow; the job records how often it agrees (one-task jobs)",
    )
    run_async: bool = Field(
        False,
        alias="async",
        description="return at once (202) and run as a job execution (same as engine=job)",
    )
    schedule: str | None = Field(
        None, description="name of the schedule that fired this run (job id from its time)"
    )

    @model_validator(mode="before")
    @classmethod
    def _earlier_names(cls, data: Any) -> Any:
        """Bodies of earlier releases (deployed schedulers): ``parallelism`` is ``tasks`` and
        the ``cloud-run-job`` engine is ``job``."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "parallelism" in data and "tasks" not in data:
            data["tasks"] = data.pop("parallelism")
        if data.get("engine") == "cloud-run-job":
            data["engine"] = Engine.JOB.value
        return data

    @field_validator("write_disposition", mode="before")
    @classmethod
    def _disposition(cls, value: Any) -> Any:
        return value.strip().lower().removeprefix("write_") if isinstance(value, str) else value

    @field_validator("env")
    @classmethod
    def _env(cls, value: str | None) -> str | None:
        return None if value is None else check_env(value)

    @field_validator("input_table", "output_table")
    @classmethod
    def _table(cls, value: str, info: ValidationInfo) -> str:
        with _naming(info):
            parse_table_id(value, default_project=_SOME_PROJECT)
        return value.strip()

    @field_validator("model_name")
    @classmethod
    def _model(cls, value: str, info: ValidationInfo) -> str:
        with _naming(info):
            return str(check_model_name(value))

    @field_validator("model_version", "shadow_version", mode="before")
    @classmethod
    def _version(cls, value: Any, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        text = str(value).strip()
        if not _VERSION_RE.match(text):
            raise InvalidVersion(
                f"{info.field_name}: {text!r}: expected vN, N, latest or an alias such as champion"
            )
        return text

    @field_validator("id_columns")
    @classmethod
    def _ids(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        for name in value:
            check_column(name)
            if name in RESERVED:
                raise InvalidInput(
                    f"id column {name!r} clashes with an output column ({', '.join(RESERVED)})"
                )
        twice = sorted({n for n in value if value.count(n) > 1})
        if twice:
            raise InvalidInput(
                f"id column(s) {', '.join(twice)} named more than once: each column is copied "
                "to the output once; list it once"
            )
        return value

    @field_validator("job_id")
    @classmethod
    def _job_id(cls, value: str | None) -> str | None:
        return None if value is None else str(check_job_id(value))

    @field_validator("shard_key")
    @classmethod
    def _shard_key(cls, value: str | None) -> str | None:
        return None if value is None else str(check_column(value))

    @model_validator(mode="after")
    def _engine(self) -> PredictionRequest:
        if self.tasks > 1 and self.engine == Engine.SERVICE and not self.run_async:
            raise InvalidInput(
                f"tasks={self.tasks} needs engine 'job' (the service runs one task); "
                "set engine to job"
            )
        if self.shadow_version is not None and self.tasks > 1:
            raise InvalidInput(
                "shadow_version needs a one-task job: sharded jobs do not shadow-score yet"
            )
        return self

    # -- derived ----------------------------------------------------------------------------
    @property
    def effective_engine(self) -> Engine:
        """``async: true`` always runs as a job execution (schedules send ``engine: job``)."""
        return Engine.JOB if self.run_async else self.engine

    @classmethod
    def parse(cls, data: dict[str, Any]) -> PredictionRequest:
        """Validate ``data`` (CLI options, a schedule), raising :class:`InvalidInput` that names
        every bad field, as the service answers a bad body."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise InvalidInput(validation_message(exc)) from None

    def with_schedule_time(self, fired_at: dt.datetime) -> PredictionRequest:
        """The run of a schedule fired at ``fired_at``: a job id derived from the schedule's
        name and time, so a double fire (scheduler retry, two schedulers) writes once."""
        if not self.schedule:
            return self
        stamp = fired_at.astimezone(dt.UTC).strftime("%Y%m%dt%H%M%S")
        return self.model_copy(update={"job_id": check_job_id(f"{self.schedule}-{stamp}")})


@contextlib.contextmanager
def _naming(info: ValidationInfo) -> Iterator[None]:
    """Put the field's name in front of the library's error (same class, same code)."""
    try:
        yield
    except MlsysError as exc:
        exc.message = f"{info.field_name}: {exc.message}"
        exc.args = (exc.message,)
        raise


def validation_message(exc: ValidationError) -> str:
    """``field: problem; ...`` from a pydantic error (the same words the service uses)."""
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"] if p != "body") or "request"
        problems.append(f"{where}: {str(err['msg']).removeprefix('Value error, ')}")
    return "; ".join(problems)
