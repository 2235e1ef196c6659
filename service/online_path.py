"""Online prediction without FastAPI's routing: the lean path of ``POST
/models/{name}/versions/{version}:predict``.

A pure ASGI middleware, inside :class:`service.middleware.RequestContext` (request id, the 500
catch-all) and :class:`service.tracing.TraceContextMiddleware` (trace-bound logs). A POST whose
path matches the route (the same pattern Starlette compiles for it) is answered here by
:func:`service.routes.online.predict_response`, the function the FastAPI route calls, with the
route's path and ``env`` parameters read as FastAPI reads them; an error goes through the app's
own exception handlers (:mod:`service.errors`), looked up as Starlette's ExceptionMiddleware looks
them up. The answers are the route's, byte for byte (tests/online/test_online_path.py); what is
skipped is the router's walk over every route, the dependency resolution and three middleware
layers, about a third of a millisecond per request. Everything else (another method, a trailing
slash, FastAPI's native telemetry switched on) goes to the app as before. The FastAPI route stays
registered: it is the documented contract (OpenAPI) and answers whatever this path passes on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette._utils import is_async_callable
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import compile_path, get_route_path
from starlette.types import ASGIApp, Receive, Scope, Send

from service.routes.online import PREDICT_PATH, predict_response

_PATTERN, _, _CONVERTORS = compile_path(PREDICT_PATH)


class OnlinePredictPath:
    """Answers ``POST {PREDICT_PATH}`` itself; passes every other request to ``app``."""

    def __init__(self, app: ASGIApp, *, exception_handlers: Mapping[Any, Any]) -> None:
        self.app = app
        #: The app's handlers (``FastAPI.exception_handlers``: read at each error, so handlers
        #: registered later count too).
        self.exception_handlers = exception_handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and "fastapi.telemetry" not in scope  # its spans name the route: let FastAPI route
            and (match := _PATTERN.match(get_route_path(scope)))
        ):
            params = {k: _CONVERTORS[k].convert(v) for k, v in match.groupdict().items()}
            await self._predict(scope, receive, send, params["name"], params["version"])
            return
        await self.app(scope, receive, send)

    async def _predict(
        self, scope: Scope, receive: Receive, send: Send, name: str, version: str
    ) -> None:
        request = Request(scope, receive)
        try:
            # As FastAPI reads a scalar query parameter: the last `env=`, absent -> None.
            env = request.query_params.get("env")
            response = await predict_response(request, name, version, env)
        except Exception as exc:
            handler = self._handler(exc)
            if handler is None:
                raise  # RequestContext logs it and answers 500 INTERNAL
            if is_async_callable(handler):
                response = await handler(request, exc)
            else:
                response = await run_in_threadpool(handler, request, exc)
        await response(scope, receive, send)

    def _handler(self, exc: Exception) -> Any:
        """The handler Starlette's ExceptionMiddleware would call (None: re-raise)."""
        handlers = self.exception_handlers
        if isinstance(exc, HTTPException) and exc.status_code in handlers:
            return handlers[exc.status_code]
        for cls in type(exc).__mro__:
            if cls in handlers and cls is not Exception:  # Exception: ServerErrorMiddleware's
                return handlers[cls]
        return None
