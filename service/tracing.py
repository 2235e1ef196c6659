"""Binds Cloud Trace's ``X-Cloud-Trace-Context`` (or W3C ``traceparent``) of each request to its
log lines (:mod:`mlsys.logs`), so Cloud Logging groups them under the request's trace."""

from __future__ import annotations

from typing import Any

from mlsys.logs import log_context, trace_fields
from mlsys.settings import get_settings

_TRACE_HEADERS = (b"x-cloud-trace-context", b"traceparent")


class TraceContextMiddleware:
    """A pure ASGI middleware: nothing is buffered, streaming responses stay streamed."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1")
            for k, v in scope["headers"]
            if k.lower() in _TRACE_HEADERS
        }
        if not headers:  # nothing to bind (a request from outside Google's front end)
            await self.app(scope, receive, send)
            return
        settings = get_settings()
        fields = trace_fields(
            settings.project_for(settings.mlsys_env),
            cloud_trace=headers.get("x-cloud-trace-context"),
            traceparent=headers.get("traceparent"),
        )
        with log_context(**fields):
            await self.app(scope, receive, send)
