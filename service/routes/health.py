"""Probes: ``/health`` (process up), ``/live`` (event loop answers), ``/ready`` (backends)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from service.deps import SettingsDep
from service.errors import ErrorBody, request_id_of

router = APIRouter(tags=["health"])


class Readiness(BaseModel):
    status: Literal["ready"]
    checks: dict[str, dict[str, Any]]


class NotReady(ErrorBody):
    """503 from ``/ready``: the error shape plus each backend's check."""

    status: Literal["unavailable"]
    checks: dict[str, dict[str, Any]]


@router.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/live")
async def live() -> dict[str, str]:
    return {"status": "alive"}


@router.get(
    "/ready",
    response_model=Readiness,
    responses={503: {"model": NotReady, "description": "`BACKEND_UNAVAILABLE`: a backend fails"}},
)
def ready(request: Request, settings: SettingsDep) -> JSONResponse:
    from mlsys.health import check_backends  # the clients load on the first probe

    checks = check_backends(settings)
    failing = [name for name, check in checks.items() if not check["ok"]]
    if not failing:
        return JSONResponse({"status": "ready", "checks": checks})
    body = NotReady(
        error="BACKEND_UNAVAILABLE",
        message=f"not ready: {', '.join(failing)} cannot be reached",
        request_id=request_id_of(request),
        status="unavailable",
        checks=checks,
    )
    return JSONResponse(body.model_dump(exclude_none=True), status_code=503)
