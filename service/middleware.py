"""What every request goes through: an id, a cap on its body, and the catch-all for errors
nobody expected.

A pure ASGI middleware (not ``BaseHTTPMiddleware``), inside Starlette's
``ServerErrorMiddleware``: Starlette's own catch-all answers a plain-text 500 and re-raises, and
uvicorn then closes the keep-alive connection, so a client's NEXT request failed too. Here the
error is logged with its traceback and answered as JSON, and the connection stays usable.
"""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import error_response

log = logging.getLogger("mlsys.service")

#: The id of the request being handled (for log lines written while handling it).
REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="")
#: POST bodies are small JSON objects; anything larger is refused before it is read.
MAX_BODY_BYTES = 1024 * 1024
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_TRACE_ID = re.compile(r"^[0-9a-fA-F]{32}$")


class BodyTooLarge(HTTPException):
    """Raised while the body streams in; an HTTPException, so FastAPI's body parser lets it
    through to the handler instead of calling it an unparsable body."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


def request_id_from(headers: Headers) -> str:
    """The trace id Google's front end (``X-Cloud-Trace-Context``) or a W3C client
    (``traceparent``) sent, so logs and traces line up; else a new id."""
    cloud = headers.get("x-cloud-trace-context", "").split("/", 1)[0]
    if _TRACE_ID.match(cloud):
        return cloud.lower()
    parts = headers.get("traceparent", "").split("-")
    if len(parts) == 4 and _TRACE_ID.match(parts[1]) and parts[1] != "0" * 32:
        return parts[1].lower()
    return uuid.uuid4().hex


class RequestContext:
    """Request id (echoed in ``X-Request-Id``), body cap (413), and 500 ``INTERNAL`` as JSON."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request_id = request_id_from(headers)
        scope.setdefault("state", {})["request_id"] = request_id
        token = REQUEST_ID.set(request_id)
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                MutableHeaders(scope=message)["X-Request-Id"] = request_id
            await send(message)

        try:
            # Online prediction caps its own body (MLSYS_ONLINE_MAX_BODY_BYTES, 413 naming it).
            if scope["method"] in _BODY_METHODS and not scope["path"].endswith(":predict"):
                length = headers.get("content-length", "")
                if length.isdigit() and int(length) > self.max_body_bytes:
                    exc = BodyTooLarge(self.max_body_bytes)
                    response = error_response(request_id, 413, "PAYLOAD_TOO_LARGE", exc.detail)
                    await response(scope, receive, send_with_id)
                    return
                receive = self._capped(receive)
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            log.error(
                "%s %s failed unexpectedly [request_id=%s]",
                scope["method"],
                scope["path"],
                request_id,
                exc_info=exc,
            )
            if started:  # the answer is on its way: nothing better can be sent now
                raise
            response = error_response(
                request_id,
                500,
                "INTERNAL",
                f"unexpected error: it was logged with request id {request_id} (quote it when "
                "reporting the problem)",
            )
            await response(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)

    def _capped(self, receive: Receive) -> Receive:
        seen = 0

        async def capped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    raise BodyTooLarge(self.max_body_bytes)
            return message

        return capped
