"""The FastAPI application: routers, plus the ONE place where errors become HTTP
(service.errors, installed here with the catch-all middleware)."""

from __future__ import annotations

from fastapi import FastAPI

from mlsys.logs import configure_logging
from service.docs import install_docs
from service.errors import install_error_handlers
from service.middleware import RequestContext
from service.online_path import OnlinePredictPath
from service.openapi import install_openapi
from service.routes import health, history, jobs, models, monitoring, online, predict
from service.tracing import TraceContextMiddleware
from service.ui import routes as ui


def create_app(*, online_path: bool = True) -> FastAPI:
    """The service; ``online_path=False`` leaves online prediction to FastAPI's routing (the
    tests compare both)."""
    configure_logging("service")
    app = FastAPI(
        title="mlsys",
        version="0.1.0",
        description=(
            "Batch predictions BigQuery -> BigQuery, online predictions and the model registry. "
            "Every error answers `{error, message, request_id}`; the request id is also in "
            "`X-Request-Id`."
        ),
        docs_url=None,  # served by service.docs from local assets, not a CDN
        redoc_url=None,
    )
    app.include_router(health.router)
    app.include_router(models.router)
    app.include_router(predict.router)
    app.include_router(jobs.router)
    app.include_router(history.router)
    app.include_router(online.router)  # online prediction (mlsys.online)
    # Monitoring: drift and shadow figures, the read-only console at /ui, trace-bound logs.
    app.include_router(monitoring.router)
    app.include_router(ui.router)
    install_error_handlers(app)
    if online_path:  # innermost: inside the request id, the catch-all and the trace context
        app.add_middleware(OnlinePredictPath, exception_handlers=app.exception_handlers)
    app.add_middleware(TraceContextMiddleware)
    app.add_middleware(RequestContext)
    install_openapi(app)
    install_docs(app)
    return app


app = create_app()
