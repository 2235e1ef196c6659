"""The ONE place where errors become HTTP answers, all in one shape: ``{error, message,
request_id}`` (plus ``details`` when there are structured facts).

- mlsys errors (:mod:`mlsys.errors`): their own ``code`` and ``http_status``; the library
  prefers these typed errors, which name what was wrong;
- Google API errors the library did not turn into its own: mapped by HTTP status and BigQuery
  reason (:func:`google_error`), naming the resource;
- missing or unusable Google credentials: 503;
- FastAPI's own answers (unknown route, wrong method, unparsable or invalid body);
- anything else: 500 ``INTERNAL``, answered by :class:`service.middleware.RequestContext`.
"""

from __future__ import annotations

import http
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import iter_route_contexts
from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exceptions
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from mlsys.errors import MlsysError

log = logging.getLogger("mlsys.service")


class ErrorBody(BaseModel):
    """Every error answer of the service."""

    error: str = Field(description="stable code, e.g. TABLE_NOT_FOUND", examples=["NOT_FOUND"])
    message: str = Field(description="what was wrong, and what was expected")
    request_id: str = Field(
        description="also in the X-Request-Id header: quote it when reporting a problem"
    )
    details: dict[str, Any] | None = Field(None, description="structured facts, when any")


def error_response(
    request_id: str,
    status: int,
    code: str,
    message: str,
    *,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A JSON error answer in the service's one shape."""
    body: dict[str, Any] = {"error": code, "message": message, "request_id": request_id}
    if details:
        body["details"] = details
    return JSONResponse(body, status_code=status, headers=headers)


def request_id_of(request: Request) -> str:
    """The id :class:`service.middleware.RequestContext` gave this request."""
    return str(getattr(request.state, "request_id", "") or "unknown")


# -- Google API errors ------------------------------------------------------------------------
@dataclass(frozen=True)
class MappedError:
    status: int
    code: str
    message: str


#: BigQuery says 403 for quota and rate limits; the reason tells them from a refused grant.
_QUOTA_REASONS = frozenset({"quotaExceeded", "rateLimitExceeded"})
_BY_STATUS = {
    400: (400, "BAD_REQUEST"),
    403: (403, "PERMISSION_DENIED"),
    404: (404, "NOT_FOUND"),
    409: (409, "CONFLICT"),
    412: (409, "PRECONDITION_FAILED"),  # the resource changed meanwhile: a conflict of state
    429: (429, "QUOTA_EXCEEDED"),
}


def google_error(exc: gexc.GoogleAPIError) -> MappedError:
    """The answer for a Google API error: 4xx when the request (a table it named, a grant the
    service lacks, a quota) is the cause, 503 when Google or our credentials are."""
    if isinstance(exc, gexc.RetryError):
        cause = exc.cause or exc
        return MappedError(503, "BACKEND_UNAVAILABLE", f"gave up after retrying: {cause}")
    status = int(getattr(exc, "code", 0) or 0)
    reason = _reason(exc)
    what = _resource(exc)
    text = str(getattr(exc, "message", "") or exc)
    if reason in _QUOTA_REASONS or status == 429:
        return MappedError(
            429, "QUOTA_EXCEEDED", f"Google Cloud quota exceeded{what}: {text}; retry later"
        )
    if status == 400 and "different locations" in text:
        return MappedError(
            400,
            "LOCATION_MISMATCH",
            f"BigQuery cannot read and write across locations{what}: {text}; the input and "
            "output tables of one job must be in the same location (BQ_LOCATION)",
        )
    if status in _BY_STATUS:
        code_status, code = _BY_STATUS[status]
        hint = ": the service's identity lacks a grant" if status == 403 else ""
        return MappedError(code_status, code, f"Google Cloud refused{what}{hint}: {text}")
    if status == 401 or status >= 500:
        return MappedError(503, "BACKEND_UNAVAILABLE", f"Google Cloud failed{what}: {text}")
    # Anything else (405, 411, ...) means we sent a request Google cannot take: our bug.
    return MappedError(500, "INTERNAL", f"unexpected answer from Google Cloud{what}: {text}")


def _reason(exc: gexc.GoogleAPIError) -> str | None:
    errors = getattr(exc, "errors", None) or []
    first = errors[0] if errors else None
    return first.get("reason") if isinstance(first, dict) else None


def _resource(exc: gexc.GoogleAPIError) -> str:
    """`` reading table p.d.t``, `` writing gs://bucket/object``...: what the failed REST call
    was about, from its URL."""
    request = getattr(getattr(exc, "response", None), "request", None)
    url = getattr(request, "url", None)
    if not isinstance(url, str):
        return ""
    parts = [unquote(p) for p in urlsplit(url).path.split("/") if p]
    verb = {"GET": "reading", "DELETE": "deleting"}.get(str(getattr(request, "method", "")))
    verb = verb or "writing"
    if "bigquery" in parts:
        project, dataset = _after(parts, "projects"), _after(parts, "datasets")
        table, job = _after(parts, "tables"), _after(parts, "jobs")
        if table:
            return f" {verb} table {project}.{dataset}.{table}"
        if dataset:
            return f" {verb} dataset {project}.{dataset}"
        if job:
            return f" {verb} BigQuery job {project}:{job}"
        if "jobs" in parts or "queries" in parts:
            return f" running a BigQuery job in project {project}"
        return f" {verb} BigQuery in project {project}" if project else ""
    if "b" in parts:
        rest = parts[parts.index("b") + 1 :]
        bucket, obj = rest[0] if rest else "", "/".join(rest[2:]) if len(rest) > 2 else ""
        return f" {verb} gs://{bucket}/{obj}" if obj else f" {verb} bucket gs://{bucket}"
    return ""


def _after(parts: list[str], name: str) -> str | None:
    i = parts.index(name) if name in parts else -1
    return parts[i + 1] if 0 <= i < len(parts) - 1 else None


# -- handlers -------------------------------------------------------------------------------
_FASTAPI_CODES = {
    400: "INVALID_REQUEST",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
}


def install_error_handlers(app: FastAPI) -> None:
    """Register every error handler of the service on ``app``."""

    @app.exception_handler(MlsysError)
    async def mlsys_error(request: Request, exc: MlsysError) -> Response:
        if exc.http_status >= 500:
            log.error("%s %s failed: %s", request.method, request.url.path, exc.message)
        if request.url.path.startswith("/ui"):  # the console shows the same error as a page
            from service.ui.routes import error_page

            return error_page(request, exc)
        return error_response(
            request_id_of(request), exc.http_status, exc.code, exc.message, details=exc.details
        )

    @app.exception_handler(gexc.GoogleAPIError)
    async def google_api_error(request: Request, exc: gexc.GoogleAPIError) -> JSONResponse:
        mapped = google_error(exc)
        level = logging.ERROR if mapped.status >= 500 else logging.WARNING
        log.log(level, "%s %s: %s", request.method, request.url.path, mapped.message)
        return error_response(request_id_of(request), mapped.status, mapped.code, mapped.message)

    @app.exception_handler(auth_exceptions.GoogleAuthError)
    async def no_credentials(
        request: Request, exc: auth_exceptions.GoogleAuthError
    ) -> JSONResponse:
        log.error("%s %s: no usable Google credentials: %s", request.method, request.url.path, exc)
        return error_response(
            request_id_of(request),
            503,
            "BACKEND_UNAVAILABLE",
            f"the service has no usable Google Cloud credentials: {str(exc)[:300]}",
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(_problem(err) for err in exc.errors())
        return error_response(request_id_of(request), 400, "INVALID_REQUEST", problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = exc.status_code
        code = _FASTAPI_CODES.get(status) or http.HTTPStatus(status).name
        message = str(exc.detail)
        if status == 404:
            message = f"no route {request.url.path}: the API is described at /docs"
        headers = dict(exc.headers or {})
        if status == 405:
            # One route per method: the router only names the first route's methods.
            headers = {"Allow": ", ".join(_allowed_methods(request))}
            message = (
                f"{request.method} is not allowed on {request.url.path}: use {headers['Allow']}"
            )
        return error_response(request_id_of(request), status, code, message, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app answers on this path."""
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods |= set(route.methods or ())
    return sorted(methods - {"HEAD"}) or ["GET"]


def _problem(err: Any) -> str:
    """One validation problem: where, what, and the value that was sent."""
    where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
    if err.get("type") == "json_invalid":
        return f"the body is not valid JSON: {err.get('ctx', {}).get('error', err.get('msg'))}"
    text = f"{where}: {err.get('msg')}"
    value = err.get("input")
    if err.get("type") != "missing" and isinstance(value, str | int | float | bool):
        text += f" (got {str(value)[:100]!r})"
    return text
