"""Online prediction: ``POST /models/{name}/versions/{version}:predict`` (Vertex-style body)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from mlsys.errors import (
    ArtifactPathError,
    ArtifactTooLarge,
    BackendUnavailable,
    IntegrityError,
    InvalidArtifact,
    InvalidBody,
    InvalidEnvironment,
    InvalidInstances,
    InvalidVersion,
    ModelNotFound,
    PredictionFailed,
    TooManyInstances,
    UnsupportedFormat,
    UntrustedArtifact,
    UntrustedGlobal,
    VersionNotFound,
)
from mlsys.settings import get_settings
from service.openapi import GOOGLE, INVALID_REQUEST, error_responses
from service.routes.models import EnvQuery
from service.schemas import OnlineRequest, OnlineResponse

router = APIRouter(tags=["online"])

#: Which runtime answered (``sklearn`` or ``onnx``), for operators and tests.
RUNTIME_HEADER = "x-mlsys-runtime"
#: The route; :mod:`service.online_path` answers it without FastAPI's routing (same answers).
PREDICT_PATH = "/models/{name}/versions/{version}:predict"


@router.post(
    PREDICT_PATH,
    response_model=OnlineResponse,
    responses=error_responses(
        INVALID_REQUEST,
        GOOGLE,
        InvalidBody,
        InvalidEnvironment,
        InvalidVersion,
        ArtifactPathError,
        ModelNotFound,
        VersionNotFound,
        InvalidInstances,
        TooManyInstances,
        PredictionFailed,
        UnsupportedFormat,
        IntegrityError,
        UntrustedArtifact,
        UntrustedGlobal,
        InvalidArtifact,
        ArtifactTooLarge,
        BackendUnavailable,
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": OnlineRequest.model_json_schema(),
                    "examples": {
                        "instances": {
                            "summary": "rows as objects",
                            "value": {"instances": [{"Pclass": 3, "Sex": "male", "Age": 22}]},
                        },
                        "columns": {
                            "summary": "column names once, rows as lists",
                            "value": {
                                "columns": ["Pclass", "Sex", "Age"],
                                "data": [[1, "female", 38]],
                            },
                        },
                    },
                }
            },
        }
    },
)
async def predict_online(
    name: str, version: str, request: Request, env: EnvQuery = None
) -> Response:
    """Predict JSON instances now with ``vN``, ``N``, ``latest`` or an alias (``champion``).

    Async on purpose: the body is read and checked on the event loop; the model runs in a
    worker thread, where requests that arrive meanwhile are scored together, or on the loop
    when this is the process's only request (docs/online.md).

    The service answers this route through :class:`service.online_path.OnlinePredictPath`,
    which calls :func:`predict_response` as this function does, without FastAPI's routing and
    dependency resolution: this declaration is the documented contract (OpenAPI)."""
    return await predict_response(request, name, version, env)


async def predict_response(request: Request, name: str, version: str, env: str | None) -> Response:
    """The answer of ``POST {PREDICT_PATH}``; errors are raised (service.errors maps them)."""
    from mlsys.online.server import online_server  # on first use: numpy loads here

    body = await _read_body(request, get_settings().online_max_body_bytes)
    answer = await online_server().apredict(env, name, version, body)
    return Response(
        answer.to_json(), media_type="application/json", headers={RUNTIME_HEADER: answer.runtime}
    )


@router.get("/online/models")
def served_models() -> list[dict[str, Any]]:
    """The models this instance serves: version, runtime (and why), request counts."""
    from mlsys.online.server import online_server

    return online_server().status()


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused (413) as soon as it is larger than ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, limit: int) -> TooManyInstances:
    return TooManyInstances(
        f"the body has {size} bytes or more: at most {limit} are accepted "
        "(MLSYS_ONLINE_MAX_BODY_BYTES); send fewer instances per request",
        details={"bytes": size, "limit": limit},
    )
