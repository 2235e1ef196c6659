"""``/predict``: batch prediction from a BigQuery table into a BigQuery table."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Body, Header, Query
from fastapi.responses import JSONResponse

from mlsys.errors import (
    AccessDenied,
    ArtifactTooLarge,
    BackendUnavailable,
    ConfigError,
    FeatureTypeError,
    IntegrityError,
    InvalidArtifact,
    InvalidEnvironment,
    InvalidIdentifier,
    InvalidInput,
    InvalidTableId,
    InvalidVersion,
    JobConflict,
    MissingFeatures,
    ModelNotFound,
    NotFound,
    OutputSchemaMismatch,
    PredictionFailed,
    SchemaMismatch,
    TableNotFound,
    UnsupportedFormat,
    UnsupportedTableType,
    UntrustedArtifact,
    UntrustedGlobal,
    UnverifiedArtifact,
    VersionArchived,
    VersionNotFound,
)
from mlsys.predict.claims import ClaimLost
from mlsys.predict.request import PredictionRequest
from service.deps import SettingsDep
from service.openapi import (
    GOOGLE,
    GOOGLE_REQUEST,
    INVALID_REQUEST,
    PAYLOAD_TOO_LARGE,
    error_responses,
)
from service.routes.jobs import job_response
from service.schemas import MODEL_NAME_SCHEMA, EnvQuery, JobResponse

router = APIRouter(tags=["predict"])

#: What checking and running a prediction can meet (mlsys.predict.plan, the engines).
PREDICT_ERRORS = (
    INVALID_REQUEST,
    InvalidEnvironment,
    InvalidTableId,
    InvalidIdentifier,
    InvalidInput,
    InvalidVersion,
    IntegrityError,
    UntrustedArtifact,
    UnverifiedArtifact,
    UntrustedGlobal,
    InvalidArtifact,
    ArtifactTooLarge,
    ModelNotFound,
    VersionNotFound,
    VersionArchived,
    TableNotFound,
    MissingFeatures,
    FeatureTypeError,
    SchemaMismatch,
    OutputSchemaMismatch,
    UnsupportedTableType,
    UnsupportedFormat,
    PredictionFailed,
    GOOGLE_REQUEST,
    GOOGLE,
)

EXAMPLES = {
    "now": {
        "summary": "predict now, append, safe to retry",
        "value": {
            "env": "dev",
            "input_table": "my-project.sales.customers",
            "output_table": "my-project.mlsys_predictions_dev.churn_scores",
            "model_name": "churn",
            "model_version": "champion",
            "id_columns": ["customer_id"],
            "write_disposition": "append",
            "job_id": "churn-2026-11-25",
        },
    },
    "async": {
        "summary": "as a Cloud Run Job execution: 202, then follow GET /jobs/{job_id}",
        "value": {
            "input_table": "my-project.sales.customers",
            "output_table": "my-project.mlsys_predictions_dev.churn_scores_latest",
            "model_name": "churn",
            "write_disposition": "truncate",
            "async": True,
        },
    },
    "sharded": {
        "summary": "a large table as 8 Cloud Run Job tasks (202)",
        "value": {
            "input_table": "my-project.sales.events",
            "output_table": "my-project.mlsys_predictions_dev.event_scores",
            "model_name": "churn",
            "model_version": "v3",
            "engine": "job",
            "tasks": 8,
        },
    },
}


@router.get("/predict", response_model=JobResponse, responses=error_responses(PREDICT_ERRORS))
def predict_get(
    settings: SettingsDep,
    input_table: Annotated[str, Query(description="project.dataset.table to read")],
    output_table: Annotated[str, Query(description="project.dataset.table to write")],
    model_name: Annotated[str, Query(json_schema_extra=MODEL_NAME_SCHEMA)],
    model_version: str = "latest",
    env: EnvQuery = None,
) -> JSONResponse:
    """The seed's interface: predict now, append to the output."""
    request = PredictionRequest.parse(
        {
            "env": env or settings.mlsys_env,
            "input_table": input_table,
            "output_table": output_table,
            "model_name": model_name,
            "model_version": model_version,
        }
    )
    return _answer(request)


@router.post(
    "/predict",
    response_model=JobResponse,
    responses={
        202: {"model": JobResponse, "description": "accepted: runs as a job execution"},
        **error_responses(
            PREDICT_ERRORS,
            JobConflict,
            ClaimLost,
            PAYLOAD_TOO_LARGE,
            ConfigError,
            NotFound,
            AccessDenied,
            BackendUnavailable,
        ),
    },
)
def predict_post(
    request: Annotated[PredictionRequest, Body(openapi_examples=EXAMPLES)],
    settings: SettingsDep,
    schedule_time: Annotated[
        str | None,
        Header(
            alias="X-CloudScheduler-ScheduleTime",
            description="set by Cloud Scheduler: with `schedule`, the run's job id derives from it",
        ),
    ] = None,
) -> JSONResponse:
    """Predict now in the service (200, ``engine: service``), or check everything, start a
    Cloud Run Job execution of ``tasks`` shards and answer at once (202, ``engine: job`` or
    ``async: true``). A retry with the same ``job_id`` never writes the rows twice; every check
    runs before the answer, also for 202."""
    if request.env is None:
        request = request.model_copy(update={"env": settings.mlsys_env})
    if request.schedule and schedule_time and not request.job_id:
        request = request.with_schedule_time(_scheduled_at(schedule_time))
    return _answer(request)


def _answer(request: PredictionRequest) -> JSONResponse:
    from mlsys.predict.engines import submit  # on first use: pyarrow and the clients load here

    result = submit(request)
    env = result.record.env
    response = (
        JobResponse.of(result.record) if result.accepted else job_response(env, result.record)
    )
    return JSONResponse(
        response.model_dump(mode="json"), status_code=202 if result.accepted else 200
    )


def _scheduled_at(value: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"X-CloudScheduler-ScheduleTime {value!r}: expected an RFC 3339 time"
        ) from None
