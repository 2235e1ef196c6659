"""The FastAPI application: routers plus the ONE place where mlsys errors become HTTP."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from mlsys.errors import MlsysError
from service.routes import health, history, jobs, models, online, predict

log = logging.getLogger("mlsys.service")


def create_app() -> FastAPI:
    app = FastAPI(
        title="mlsys",
        version="0.1.0",
        description="Batch predictions BigQuery -> BigQuery, online predictions and the model "
        "registry.",
    )
    app.include_router(health.router)
    app.include_router(models.router)
    app.include_router(predict.router)
    app.include_router(jobs.router)
    app.include_router(history.router)
    app.include_router(online.router)  # online prediction (mlsys.online)
    _install_error_handlers(app)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(MlsysError)
    async def mlsys_error(request: Request, exc: MlsysError) -> JSONResponse:
        if exc.http_status >= 500:
            log.error("%s %s failed: %s", request.method, request.url.path, exc.message)
        return JSONResponse(exc.to_dict(), status_code=exc.http_status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(p) for p in err['loc'] if p != 'body')}: {err['msg']}"
            for err in exc.errors()
        ]
        return JSONResponse(
            {"error": "INVALID_REQUEST", "message": "; ".join(problems)}, status_code=400
        )


app = create_app()
