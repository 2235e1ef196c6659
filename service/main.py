"""The FastAPI application: routers plus the ONE place where mlsys errors become HTTP."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from mlsys.errors import MlsysError
from mlsys.logs import configure_logging
from service.routes import health, history, jobs, models, monitoring, predict
from service.tracing import TraceContextMiddleware
from service.ui import routes as ui

log = logging.getLogger("mlsys.service")


def create_app() -> FastAPI:
    configure_logging("service")
    app = FastAPI(
        title="mlsys",
        version="0.1.0",
        description="Batch predictions BigQuery -> BigQuery and the model registry.",
    )
    app.include_router(health.router)
    app.include_router(models.router)
    app.include_router(predict.router)
    app.include_router(jobs.router)
    app.include_router(history.router)
    # Monitoring: drift and shadow figures, the read-only console at /ui, trace-bound logs.
    app.include_router(monitoring.router)
    app.include_router(ui.router)
    app.add_middleware(TraceContextMiddleware)
    _install_error_handlers(app)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(MlsysError)
    async def mlsys_error(request: Request, exc: MlsysError) -> Response:
        if exc.http_status >= 500:
            log.error("%s %s failed: %s", request.method, request.url.path, exc.message)
        if request.url.path.startswith("/ui"):  # the console shows the same error as a page
            return ui.error_page(request, exc)
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
