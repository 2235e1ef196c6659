"""A model's lifecycle stages and audit trail over HTTP: ``GET /models/{name}/history``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from mlsys.errors import ArtifactPathError, BackendUnavailable, InvalidEnvironment, ModelNotFound
from mlsys.promote.lifecycle import ModelHistory, model_history
from service.openapi import GOOGLE, INVALID_REQUEST, error_responses
from service.schemas import ENV_SCHEMA, ModelName

router = APIRouter(tags=["registry"])


@router.get(
    "/models/{name}/history",
    response_model=ModelHistory,
    responses=error_responses(
        INVALID_REQUEST,
        InvalidEnvironment,
        ArtifactPathError,
        ModelNotFound,
        BackendUnavailable,
        GOOGLE,
    ),
)
def history(
    name: ModelName,
    env: Annotated[
        str | None,
        Query(description="only this env's audit (default: all)", json_schema_extra=ENV_SCHEMA),
    ] = None,
) -> ModelHistory:
    return model_history(name, env=env)
