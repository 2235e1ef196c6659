"""Starting a sharded prediction: check the request, write the plan, run the Cloud Run Job.

:func:`plan_job` does every check the service can do up front (tables, model, features, shard
key) and records the plan; :func:`launch` then starts an execution of the environment's job
(``mlsys-predict-job-{env}``, Terraform ``google_cloud_run_v2_job.predict``) through the
google-cloud-run client, overriding its args (``--job-id``) and task count. The client speaks
REST to ``MLSYS_CLOUD_RUN_ENDPOINT`` when set (the local stack's stand-in, with this process's
local identity, which it checks against the Terraform grants), else
to ``run.googleapis.com`` with Application Default Credentials.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from google.api_core import exceptions as gexc
from google.api_core.client_options import ClientOptions

from mlsys.clients import bigquery_client, bigquery_read_client, emulator_credentials
from mlsys.errors import (
    AccessDenied,
    BackendUnavailable,
    ConfigError,
    InvalidInput,
    JobConflict,
    MlsysError,
    NotFound,
    TableNotFound,
)
from mlsys.identifiers import TableRef, check_column, parse_table_id
from mlsys.jobs.plan import ShardPlan, job_records, shard_store
from mlsys.jobs.publish import claim_table
from mlsys.jobs.shard import task_table
from mlsys.predict.features import check_input, default_id_columns, plan_features
from mlsys.predict.jobs import JobRecord, JobStatus, check_job_id, new_job_id, now
from mlsys.predict.output import RESERVED, check_id_columns, plan_output
from mlsys.predict.pipeline import resolve_model
from mlsys.predict.sinks import DISPOSITIONS, check_output_target
from mlsys.predict.sources import arrow_schema, check_readable
from mlsys.schema import bq_schema
from mlsys.settings import Settings, check_env, get_settings

if TYPE_CHECKING:
    import pyarrow as pa
    from google.cloud import run_v2

log = logging.getLogger(__name__)

#: The module run by every task (the image's ``python``; see infra/modules/mlsys/run.tf).
ENTRY_MODULE = "mlsys.jobs.predict"


@dataclass(frozen=True)
class Launch:
    """A started sharded job: its id (``GET /jobs/{id}``) and the Cloud Run execution."""

    job_id: str
    execution: str
    plan: ShardPlan
    record: JobRecord


def plan_job(
    *,
    env: str,
    input_table: str,
    output_table: str,
    model_name: str,
    model_version: str | int = "latest",
    tasks: int,
    id_columns: Sequence[str] | None = None,
    write_disposition: str = "append",
    job_id: str | None = None,
    shard_key: str | None = None,
    chunk_rows: int | None = None,
    allow_archived: bool = False,
) -> ShardPlan:
    """Validate a sharded prediction and record its plan (the same plan for a retried id)."""
    check_env(env)
    settings = get_settings()
    project = settings.project_for(env)
    input_ref = parse_table_id(input_table, default_project=project)
    output_ref = parse_table_id(output_table, default_project=project)
    if write_disposition not in DISPOSITIONS:
        raise InvalidInput(
            f"write_disposition {write_disposition!r}: expected one of {', '.join(DISPOSITIONS)}"
        )
    job_id = check_job_id(job_id) if job_id is not None else new_job_id()
    # The job's own tables must fit beside the output (the last task's is the longest name).
    task_table(output_ref, job_id, max(tasks - 1, 0))
    claim_table(output_ref, job_id)
    if id_columns:
        id_columns = check_id_columns(id_columns)
    store = shard_store(env)
    existing = _existing_plan(env, job_id, input_ref, output_ref, model_name)
    if existing is not None:
        return existing
    model = resolve_model(env, model_name, model_version, allow_archived=allow_archived)
    schema, num_rows = _input_schema(input_ref, env)
    features = plan_features(model.model, model.metadata)
    check_input(schema, features)
    ids = list(id_columns) if id_columns else default_id_columns(schema, features, RESERVED)
    output = plan_output(
        input_schema=schema,
        id_columns=ids,
        model=model.model,
        model_name=model.model_name,
        model_version=model.version,
        job_id=job_id,
    )
    check_output_target(output_ref, bq_schema(output.schema))  # before the 202, as the service
    columns = tuple(dict.fromkeys([*features.names, *ids]))
    streams, stream_schema = (
        _session_streams(input_ref, columns, tasks, env) if tasks > 1 else ((), "")
    )
    plan = ShardPlan(
        job_id=job_id,
        env=env,
        input_table=str(input_ref),
        output_table=str(output_ref),
        model_name=model.model_name,
        model_version=model.version,
        id_columns=tuple(ids),
        columns=columns,
        write_disposition=write_disposition,
        task_count=tasks,
        split="streams" if len(streams) > 1 else "hash",
        streams=streams if len(streams) > 1 else (),
        arrow_schema=stream_schema if len(streams) > 1 else None,
        shard_key=_shard_key(shard_key, ids, schema) if len(streams) <= 1 < tasks else None,
        chunk_rows=chunk_rows,
        rows_total=num_rows,
    )
    store.save_plan(plan)
    job_records(env).save(_new_record(plan))
    return plan


def launch(**request: Any) -> Launch:
    """Plan the job, then start an execution of the env's Cloud Run Job with ``tasks`` tasks."""
    plan = plan_job(**request)
    records = job_records(plan.env)
    record = records.get(plan.job_id) or _new_record(plan)
    if shard_store(plan.env).published(plan.job_id) is not None:  # a retried launch: done
        return Launch(job_id=plan.job_id, execution="", plan=plan, record=record)
    try:
        execution = run_job(plan)
    except MlsysError as exc:  # nothing will run: say so in the job's record
        record.status, record.error_code, record.error_message = (
            JobStatus.FAILED,
            exc.code,
            exc.message,
        )
        record.updated_at = record.finished_at = now()
        records.save(record)
        raise
    shard_store(plan.env).append(plan.job_id, "launch", payload=execution)
    return Launch(job_id=plan.job_id, execution=execution, plan=plan, record=record)


def _new_record(plan: ShardPlan) -> JobRecord:
    return JobRecord(
        job_id=plan.job_id,
        env=plan.env,
        status=JobStatus.RUNNING,
        input_table=plan.input_table,
        output_table=plan.output_table,
        model_name=plan.model_name,
        model_version=plan.model_version,
        write_disposition=plan.write_disposition,
        rows_total=plan.rows_total,
    )


# -- Cloud Run Admin API --------------------------------------------------------------------
def jobs_client(settings: Settings | None = None, env: str | None = None) -> run_v2.JobsClient:
    """A Cloud Run Jobs client (REST), pointed at ``MLSYS_CLOUD_RUN_ENDPOINT`` if set."""
    from google.cloud import run_v2

    return run_v2.JobsClient(**_client_args(settings or get_settings(), env))


def _client_args(settings: Settings, env: str | None = None) -> dict[str, Any]:
    if settings.cloud_run_endpoint:
        # The local stand-in enforces the same grants: send this process's identity for env.
        return {
            "credentials": emulator_credentials(settings, env or settings.mlsys_env),
            "transport": "rest",
            "client_options": ClientOptions(api_endpoint=settings.cloud_run_endpoint),
        }
    if settings.uses_emulators:
        raise ConfigError(
            "the local emulators are configured but MLSYS_CLOUD_RUN_ENDPOINT is not: refusing "
            "to start a real Cloud Run Job from a local stack"
        )
    return {"transport": "rest"}


def job_resource(env: str, settings: Settings | None = None) -> str:
    """``projects/{p}/locations/{region}/jobs/{name}`` of the env's prediction job."""
    settings = settings or get_settings()
    name = settings.predict_job_name or f"mlsys-predict-job-{check_env(env)}"
    project = settings.project_for(env)
    return f"projects/{project}/locations/{settings.gcp_region}/jobs/{name}"


def task_args(plan: ShardPlan) -> list[str]:
    """The container args of every task: only ids, the rest is in the plan."""
    return ["-m", ENTRY_MODULE, "--env", plan.env, "--job-id", plan.job_id]


def run_job(plan: ShardPlan) -> str:
    """Start an execution with the plan's args and task count; returns the execution name."""
    from google.cloud import run_v2

    overrides = run_v2.RunJobRequest.Overrides(
        container_overrides=[
            run_v2.RunJobRequest.Overrides.ContainerOverride(args=task_args(plan))
        ],
        task_count=plan.task_count,
    )
    request = run_v2.RunJobRequest(name=job_resource(plan.env), overrides=overrides)
    try:
        operation = jobs_client(env=plan.env).run_job(request=request)
    except gexc.NotFound:
        raise NotFound(f"Cloud Run job {request.name} does not exist") from None
    except gexc.Forbidden as exc:  # the caller's account may not run this job
        raise AccessDenied(f"Cloud Run refused to run {request.name}: {exc.message}") from None
    except gexc.GoogleAPICallError as exc:
        raise BackendUnavailable(f"Cloud Run refused to run {request.name}: {exc}") from None
    execution = operation.metadata
    name = getattr(execution, "name", "") or operation.operation.name
    log.info("job %s: started execution %s (%d tasks)", plan.job_id, name, plan.task_count)
    return str(name)


def execution_progress(execution: str, env: str | None = None) -> dict[str, int]:
    """Task counts of a Cloud Run execution (running, succeeded, failed, retried)."""
    from google.cloud import run_v2

    client = run_v2.ExecutionsClient(**_client_args(get_settings(), env))
    found = client.get_execution(name=execution)
    return {
        "task_count": found.task_count,
        "running": found.running_count,
        "succeeded": found.succeeded_count,
        "failed": found.failed_count,
        "retried": found.retried_count,
        "done": int(bool(found.completion_time)),
    }


# -- checks -----------------------------------------------------------------------------------
def _existing_plan(
    env: str, job_id: str, input_ref: TableRef, output_ref: TableRef, model_name: str
) -> ShardPlan | None:
    try:
        plan = shard_store(env).plan(job_id)
    except NotFound:
        return None
    if (plan.input_table, plan.output_table, plan.model_name) != (
        str(input_ref),
        str(output_ref),
        model_name,
    ):
        raise JobConflict(
            f"job id {job_id} was already used for {plan.model_name}: "
            f"{plan.input_table} -> {plan.output_table}; use a new job id"
        )
    return plan


def _input_schema(ref: TableRef, env: str) -> tuple[pa.Schema, int | None]:
    try:
        table = bigquery_client(env).get_table(str(ref))
    except gexc.NotFound:
        raise TableNotFound(f"input table {ref} does not exist") from None
    check_readable(ref, table)
    rows = int(table.num_rows) if table.num_rows is not None else None
    return arrow_schema(table.schema), rows


def _session_streams(
    ref: TableRef, columns: Sequence[str], tasks: int, env: str
) -> tuple[tuple[str, ...], str]:
    """ONE read session for the job with up to ``tasks`` streams (BigQuery may give fewer):
    the stream names and the base64 Arrow schema of their rows."""
    import base64

    from google.cloud.bigquery_storage_v1 import types

    # Billed to the environment's project, never the input table's.
    session = bigquery_read_client(env).create_read_session(
        parent=f"projects/{get_settings().project_for(env)}",
        read_session=types.ReadSession(
            table=f"projects/{ref.project}/datasets/{ref.dataset}/tables/{ref.table}",
            data_format=types.DataFormat.ARROW,
            read_options=types.ReadSession.TableReadOptions(selected_fields=list(columns)),
        ),
        max_stream_count=tasks,
    )
    schema = base64.b64encode(session.arrow_schema.serialized_schema).decode()
    return tuple(s.name for s in session.streams), schema


def _shard_key(key: str | None, ids: Sequence[str], schema: pa.Schema) -> str:
    """The column the hash split uses: ``key``, else the first integer/string id column."""
    import pyarrow as pa

    if key is not None:
        check_column(key)
        if key not in schema.names:
            raise InvalidInput(f"shard key {key!r} is not a column of the input table")
        return key
    for name in ids:
        kind = schema.field(name).type
        if pa.types.is_integer(kind) or pa.types.is_string(kind):
            return name
    raise InvalidInput(
        "the input gives a single read stream, so the shards are split by a key column: pass "
        "a shard key (an id column of integers or strings)"
    )
