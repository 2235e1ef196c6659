"""ONE plan per job: everything a prediction needs, resolved and checked before any work.

:func:`plan` turns a validated :class:`~mlsys.predict.request.PredictionRequest` into a
:class:`JobPlan`: the table refs (in the environment's project), the model version (verified
and loaded), the features and the columns to read, the id columns, the output schema and
whether the output is compatible, and how the input splits into ``tasks`` shards. Every user
error surfaces here, before a 200/202, whichever engine then runs the plan. The plan is stored
with the job (:mod:`mlsys.predict.ledger`) so every task of a job execution runs the same one.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from google.api_core import exceptions as gexc

from mlsys.artifacts import ArtifactRef, load_model
from mlsys.clients import bigquery_client
from mlsys.errors import InvalidInput, OutputSchemaMismatch, TableNotFound
from mlsys.identifiers import TableRef, check_column, parse_table_id
from mlsys.predict.features import FeaturePlan, check_input, default_id_columns, plan_features
from mlsys.predict.output import RESERVED, OutputPlan, check_output_schema, plan_output
from mlsys.predict.records import new_job_id
from mlsys.predict.request import PredictionRequest, WriteDisposition
from mlsys.predict.sources import arrow_schema, check_readable, open_read_session
from mlsys.settings import get_settings


@dataclass(frozen=True)
class ResolvedModel:
    model: Any
    model_name: str
    version: int
    metadata: dict[str, Any] | None
    artifact_uri: str
    row: Any = None  # the registry's ModelVersion (its reference profile, for drift)


def resolve_model(
    env: str, model_name: str, model_version: str | int, *, allow_archived: bool = False
) -> ResolvedModel:
    """The registry's version, loaded from the env's bucket after verifying its bytes; an
    archived version is refused (:class:`~mlsys.errors.VersionArchived`) unless allowed."""
    from mlsys.promote.lifecycle import check_not_archived
    from mlsys.registry import get_version

    mv = get_version(env, model_name, model_version)
    if not allow_archived:
        check_not_archived(env, mv)
    loaded = load_model(ArtifactRef.from_version(mv), allowed_bucket=get_settings().bucket_for(env))
    metadata = mv.metadata or ({"features": mv.features} if mv.features else None)
    return ResolvedModel(
        loaded.model, mv.model_name, mv.model_version, metadata, mv.artifact_uri, row=mv
    )


@dataclass(frozen=True)
class JobPlan:
    """What every task of a job runs; JSON-serializable, stored once per job id."""

    job_id: str
    env: str
    input_table: str
    output_table: str
    model_name: str
    model_version: int
    id_columns: tuple[str, ...]
    columns: tuple[str, ...]  # read from the input: features + id columns
    output_schema: str  # base64 of the output's serialized Arrow schema
    write_disposition: str
    tasks: int = 1
    split: str = "single"  # single | streams | hash
    streams: tuple[str, ...] = ()
    stream_schema: str | None = None  # base64 Arrow schema of the job session's streams
    shard_key: str | None = None
    rows_total: int | None = None
    chunk_rows: int = 50_000
    engine: str = "service"
    shadow_version: int | None = None  # a challenger scoring the same rows (one-task jobs)
    shadow_table: str | None = None  # where its predictions go: {output}__shadow
    created_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    # -- what tasks need --------------------------------------------------------------------
    @property
    def input_ref(self) -> TableRef:
        return parse_table_id(self.input_table)

    @property
    def output_ref(self) -> TableRef:
        return parse_table_id(self.output_table)

    def schema(self) -> pa.Schema:
        return _schema(self.output_schema)

    def streams_of(self, index: int) -> tuple[str, ...]:
        """The read streams of task ``index`` (``streams`` split)."""
        return self.streams[index :: self.tasks]

    def row_restriction(self, index: int) -> str | None:
        """The Storage Read API row filter of task ``index`` (``hash`` split)."""
        if self.split != "hash":
            return None
        key = check_column(self.shard_key or "")
        n, i = int(self.tasks), int(index)
        return f"COALESCE(ABS(MOD(FARM_FINGERPRINT(CAST(`{key}` AS STRING)), {n})), 0) = {i}"

    def same_request(self, other: JobPlan) -> bool:
        """Whether ``other`` asks for the same job (a retry), not another one under this id."""
        keys = ("input_table", "output_table", "model_name", "write_disposition", "tasks")
        return all(getattr(self, k) == getattr(other, k) for k in keys)

    # -- storage ----------------------------------------------------------------------------
    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        data["created_at"] = self.created_at.isoformat()
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> JobPlan:
        data: dict[str, Any] = json.loads(text)
        data["created_at"] = dt.datetime.fromisoformat(data["created_at"])
        for key in ("id_columns", "columns", "streams"):
            data[key] = tuple(data.get(key) or ())
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class PlannedJob:
    """A plan and what resolving it loaded (reused by an engine running in this process)."""

    plan: JobPlan
    model: ResolvedModel
    features: FeaturePlan
    output: OutputPlan
    shadow: ResolvedModel | None = None


def plan(request: PredictionRequest) -> PlannedJob:
    """Resolve and check everything the request names; raises the user's error (4xx) here."""
    settings = get_settings()
    env = request.env or settings.mlsys_env
    project = settings.project_for(env)
    input_ref = parse_table_id(request.input_table, default_project=project)
    output_ref = parse_table_id(request.output_table, default_project=project)
    if input_ref == output_ref:
        raise InvalidInput(f"input and output are the same table ({input_ref}): pick another")
    job_id = request.job_id or new_job_id()
    model = resolve_model(
        env, request.model_name, request.model_version, allow_archived=request.allow_archived
    )
    schema, rows_total = input_schema(env, input_ref)
    features = plan_features(model.model, model.metadata)
    check_input(schema, features)
    ids = list(request.id_columns or default_id_columns(schema, features, RESERVED))
    output = plan_output(
        input_schema=schema,
        id_columns=ids,
        model=model.model,
        model_name=model.model_name,
        model_version=model.version,
        job_id=job_id,
    )
    check_output(env, output_ref, output.schema)
    shadow, shadow_table, shadow_columns = _shadow(request, env, model, schema, output, output_ref)
    # Read what the model, the ids, the challenger and the drift profile need (the sharded
    # engine's read session is opened here, with exactly these columns).
    profiled = _profiled_columns(env, model, schema)
    columns = tuple(dict.fromkeys([*features.names, *ids, *shadow_columns, *profiled]))
    split, streams, stream_schema, shard_key = _split(request, env, input_ref, columns, schema)
    job = JobPlan(
        job_id=job_id,
        env=env,
        input_table=str(input_ref),
        output_table=str(output_ref),
        model_name=model.model_name,
        model_version=model.version,
        id_columns=tuple(ids),
        columns=columns,
        output_schema=base64.b64encode(output.schema.serialize().to_pybytes()).decode(),
        write_disposition=WriteDisposition(request.write_disposition).value,
        tasks=request.tasks,
        split=split,
        streams=streams,
        stream_schema=stream_schema,
        shard_key=shard_key,
        rows_total=rows_total,
        chunk_rows=request.chunk_rows or settings.predict_chunk_rows,
        engine=request.effective_engine.value,
        shadow_version=shadow.version if shadow is not None else None,
        shadow_table=shadow_table,
    )
    output = dataclasses.replace(output, timestamp=job.created_at)
    return PlannedJob(job, model, features, output, shadow)


def _shadow(
    request: PredictionRequest,
    env: str,
    champion: ResolvedModel,
    schema: pa.Schema,
    output: OutputPlan,
    output_ref: TableRef,
) -> tuple[ResolvedModel | None, str | None, list[str]]:
    """The challenger of a shadow job, its output table and the columns it reads."""
    if request.shadow_version is None:
        return None, None, []
    from mlsys.monitoring.shadow import SHADOW_SUFFIX

    table = output_ref.derived(SHADOW_SUFFIX)  # first: refused whatever the versions are
    challenger = resolve_model(
        env, champion.model_name, request.shadow_version, allow_archived=request.allow_archived
    )
    if challenger.version == champion.version:
        raise InvalidInput(
            f"shadow_version {request.shadow_version!r} is v{champion.version}, the version "
            "scoring the job: name another version to compare with"
        )
    features = plan_features(challenger.model, challenger.metadata)
    check_input(schema, features)
    shadow_output = shadow_plan(challenger, schema, output)
    check_output(env, table, shadow_output.schema)
    return challenger, str(table), list(dict.fromkeys([*features.names, *output.id_columns]))


def shadow_plan(challenger: ResolvedModel, schema: pa.Schema, output: OutputPlan) -> OutputPlan:
    """The output of the challenger: the champion's ids and timestamp, its own predictions."""
    shadow_output = plan_output(
        input_schema=schema,
        id_columns=list(output.id_columns),
        model=challenger.model,
        model_name=challenger.model_name,
        model_version=challenger.version,
        job_id=output.job_id,
    )
    return dataclasses.replace(shadow_output, timestamp=output.timestamp)


def _profiled_columns(env: str, model: ResolvedModel, schema: pa.Schema) -> list[str]:
    """Input columns the version's reference profile describes (drift is measured on them)."""
    if model.row is None or not getattr(model.row, "has_profile", False):
        return []
    from mlsys.monitoring.reference import load_reference

    reference = load_reference(model.row, env=env)
    if reference is None:
        return []
    return [name for name in reference.features if name in schema.names]


# -- the checks -------------------------------------------------------------------------------
def input_schema(env: str, ref: TableRef) -> tuple[pa.Schema, int | None]:
    """The Arrow schema and row count of an input TABLE (views cannot be streamed)."""
    try:
        table = bigquery_client(env).get_table(str(ref))
    except gexc.NotFound:
        raise TableNotFound(f"input table {ref} does not exist") from None
    check_readable(ref, table)
    rows = int(table.num_rows) if table.num_rows is not None else None
    return arrow_schema(table.schema), rows


def check_output(env: str, ref: TableRef, schema: pa.Schema) -> None:
    """The output's dataset exists in the location the job runs in, and an existing output
    table can take the rows (the schema check a retry or an async job would otherwise meet
    only at publish)."""
    from mlsys.schema import bq_schema

    client = bigquery_client(env)
    dataset_id = f"{ref.project}.{ref.dataset}"
    try:
        dataset = client.get_dataset(dataset_id)
    except gexc.NotFound:
        raise TableNotFound(
            f"dataset {dataset_id} of the output table does not exist: create it, or write to "
            "an existing dataset"
        ) from None
    location = get_settings().bq_location
    if dataset.location and dataset.location.upper() != location.upper():
        raise InvalidInput(
            f"output dataset {dataset_id} is in {dataset.location}, the job runs in {location}: "
            "BigQuery cannot move rows across locations; write to a dataset in "
            f"{location} (BQ_LOCATION)"
        )
    try:
        existing = client.get_table(str(ref))
    except gexc.NotFound:
        return
    kind = (existing.table_type or "TABLE").upper()
    if kind != "TABLE":
        raise OutputSchemaMismatch(
            f"output {ref} is a {kind.replace('_', ' ').lower()}, not a table: predictions "
            "are written to tables only"
        )
    check_output_schema(ref, existing.schema, bq_schema(schema))


def _split(
    request: PredictionRequest,
    env: str,
    ref: TableRef,
    columns: tuple[str, ...],
    schema: pa.Schema,
) -> tuple[str, tuple[str, ...], str | None, str | None]:
    """How ``tasks`` shards divide the input: one read session's streams when BigQuery gives
    several, else a deterministic hash of a key column."""
    if request.tasks == 1:
        return "single", (), None, None
    session_schema, names = open_read_session(env, ref, columns, max_streams=request.tasks)
    if len(names) > 1:
        encoded = base64.b64encode(session_schema.serialize().to_pybytes()).decode()
        return "streams", tuple(names), encoded, None
    return "hash", (), None, _shard_key(request.shard_key, request.id_columns, schema)


def _shard_key(key: str | None, ids: tuple[str, ...] | None, schema: pa.Schema) -> str:
    if key is not None:
        if key not in schema.names:
            raise InvalidInput(f"shard key {key!r} is not a column of the input table")
        return key
    for name in ids or schema.names:
        kind = schema.field(name).type
        if pa.types.is_integer(kind) or pa.types.is_string(kind):
            return name
    raise InvalidInput(
        "the input gives a single read stream, so the shards are split by a key column: pass "
        "a shard key (an id column of integers or strings)"
    )


def _schema(encoded: str) -> pa.Schema:
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(encoded)))


def stream_schema(plan: JobPlan) -> pa.Schema | None:
    return _schema(plan.stream_schema) if plan.stream_schema else None
