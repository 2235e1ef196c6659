"""``/predict``: batch prediction from a BigQuery table into a BigQuery table."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import Field

from mlsys.errors import InvalidInput
from mlsys.predict import run_prediction, start_prediction
from service.deps import SettingsDep
from service.routes.jobs import job_response
from service.schemas import JobResponse, PredictRequest

router = APIRouter(tags=["predict"])


class EnginePredictRequest(PredictRequest):
    """``POST /predict`` body: the request plus where it runs (this service, or a sharded
    execution of the env's Cloud Run Job with ``parallelism`` tasks)."""

    engine: Literal["service", "cloud-run-job"] = "service"
    parallelism: int = Field(1, ge=1, le=1000, description="tasks of the cloud-run-job engine")


@router.get("/predict", response_model=JobResponse)
def predict_get(
    settings: SettingsDep,
    input_table: Annotated[str, Query(description="project.dataset.table to read")],
    output_table: Annotated[str, Query(description="project.dataset.table to write")],
    model_name: str,
    model_version: str = "latest",
    env: str | None = None,
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
    responses={202: {"model": JobResponse, "description": "accepted (async)"}},
)
def predict_post(request: EnginePredictRequest, settings: SettingsDep) -> JSONResponse:
    """Predict now (200), or with ``"async": true`` return at once (202) and run in the
    background; a retry with the same ``job_id`` never writes the rows twice. With
    ``"engine": "cloud-run-job"`` the job runs as ``parallelism`` Cloud Run Job tasks (202)."""
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
