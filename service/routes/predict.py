"""``/predict``: batch prediction from a BigQuery table into a BigQuery table."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse
from pydantic import Field

from mlsys.errors import (
    BackendUnavailable,
    ConfigError,
    FeatureTypeError,
    IntegrityError,
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
    VersionNotFound,
)
from mlsys.predict import run_prediction, start_prediction
from service.deps import SettingsDep
from service.openapi import (
    GOOGLE,
    GOOGLE_REQUEST,
    INVALID_REQUEST,
    PAYLOAD_TOO_LARGE,
    error_responses,
)
from service.routes.jobs import job_response
from service.schemas import MODEL_NAME_SCHEMA, EnvQuery, JobResponse, PredictRequest

router = APIRouter(tags=["predict"])

#: What checking and running a prediction can meet (mlsys.predict.prepare_prediction, execute).
PREDICT_ERRORS = (
    INVALID_REQUEST,
    InvalidEnvironment,
    InvalidTableId,
    InvalidIdentifier,
    InvalidInput,
    InvalidVersion,
    IntegrityError,
    UntrustedArtifact,
    ModelNotFound,
    VersionNotFound,
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


class EnginePredictRequest(PredictRequest):
    """``POST /predict`` body: the request plus where it runs (this service, or a sharded
    execution of the env's Cloud Run Job with ``parallelism`` tasks)."""

    engine: Literal["service", "cloud-run-job"] = "service"
    parallelism: int = Field(1, ge=1, le=1000, description="tasks of the cloud-run-job engine")


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
        "summary": "in the background: 202, then follow GET /jobs/{job_id}",
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
            "engine": "cloud-run-job",
            "parallelism": 8,
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
) -> JobResponse:
    """The seed's interface: predict now, append to the output."""
    request = PredictRequest(
        env=env,
        input_table=input_table,
        output_table=output_table,
        model_name=model_name,
        model_version=model_version,
    )
    args = request.pipeline_args(settings.mlsys_env)
    return job_response(args["env"], run_prediction(**args))


@router.post(
    "/predict",
    response_model=JobResponse,
    responses={
        202: {"model": JobResponse, "description": "accepted: runs in the background"},
        **error_responses(
            PREDICT_ERRORS,
            PAYLOAD_TOO_LARGE,
            JobConflict,
            ConfigError,
            NotFound,
            BackendUnavailable,
        ),
    },
)
def predict_post(
    request: Annotated[EnginePredictRequest, Body(openapi_examples=EXAMPLES)],
    settings: SettingsDep,
) -> JSONResponse:
    """Predict now (200), or with ``"async": true`` return at once (202) and run in the
    background; a retry with the same ``job_id`` never writes the rows twice. With
    ``"engine": "cloud-run-job"`` the job runs as ``parallelism`` Cloud Run Job tasks (202).
    Every check runs before the answer, also for 202."""
    args = request.pipeline_args(settings.mlsys_env)
    if request.engine == "cloud-run-job":
        from mlsys.jobs import launch

        if args.pop("shadow_version") is not None:
            raise InvalidInput(
                "shadow_version needs the service engine: sharded jobs do not shadow-score yet"
            )
        started = launch(**args, tasks=request.parallelism)
        return JSONResponse(JobResponse.of(started.record).model_dump(mode="json"), status_code=202)
    if request.run_async:
        record = start_prediction(**args)
        return JSONResponse(JobResponse.of(record).model_dump(mode="json"), status_code=202)
    record = run_prediction(**args)
    return JSONResponse(job_response(args["env"], record).model_dump(mode="json"))
