"""Probes: ``/health`` (process up), ``/live`` (event loop answers), ``/ready`` (backends)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from mlsys.health import check_backends
from service.deps import SettingsDep

router = APIRouter(tags=["health"])


@router.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/live")
async def live() -> dict[str, str]:
    return {"status": "alive"}


@router.get("/ready")
def ready(settings: SettingsDep) -> JSONResponse:
    checks = check_backends(settings)
    ok = all(c["ok"] for c in checks.values())
    return JSONResponse(
        {"status": "ready" if ok else "unavailable", "checks": checks},
        status_code=200 if ok else 503,
    )
