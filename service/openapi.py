"""What the OpenAPI says each route can answer besides success, derived from the errors it can
meet, so the document tells the truth (tests/service/test_openapi.py holds it to that).

A route lists the mlsys error classes its library calls raise, plus the groups below; each
status gets the real ``{error, message, request_id}`` schema and the codes it stands for.
FastAPI's automatic ``422 HTTPValidationError`` is dropped: bad parameters and bodies get 400.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from mlsys.errors import MlsysError
from service.errors import ErrorBody


@dataclass(frozen=True)
class Answer:
    """One error answer: its status, its code and when it happens."""

    status: int
    code: str
    when: str


INVALID_REQUEST = Answer(400, "INVALID_REQUEST", "a parameter or the body does not fit this API")
PAYLOAD_TOO_LARGE = Answer(413, "PAYLOAD_TOO_LARGE", "the body is larger than 1 MiB")
PERMISSION_DENIED = Answer(
    403, "PERMISSION_DENIED", "Google Cloud refused the service's identity access to a resource"
)
QUOTA_EXCEEDED = Answer(429, "QUOTA_EXCEEDED", "a Google Cloud quota or rate limit was hit")
BACKEND_UNAVAILABLE = Answer(
    503, "BACKEND_UNAVAILABLE", "Google Cloud failed, or the service has no usable credentials"
)
INTERNAL = Answer(500, "INTERNAL", "an unexpected error, logged with the request id")
#: What any route that calls Google APIs can meet, whatever it asks.
GOOGLE = (PERMISSION_DENIED, QUOTA_EXCEEDED, BACKEND_UNAVAILABLE, INTERNAL)
#: Google errors about resources a request named (tables), mapped by service.errors.
GOOGLE_REQUEST = (
    Answer(400, "BAD_REQUEST", "BigQuery rejected what the request named"),
    Answer(400, "LOCATION_MISMATCH", "input and output are in different BigQuery locations"),
    Answer(404, "NOT_FOUND", "a resource the request named does not exist"),
)

AnswerLike = Answer | type[MlsysError] | Iterable["AnswerLike"]


def error_responses(*answers: AnswerLike) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: one entry per status, listing the codes behind it."""
    by_status: dict[int, dict[str, str]] = {}
    for answer in _flatten(answers):
        by_status.setdefault(answer.status, {}).setdefault(answer.code, answer.when)
    return {
        status: {
            "model": ErrorBody,
            "description": "; ".join(
                f"`{code}`: {when}" if when else f"`{code}`" for code, when in codes.items()
            ),
        }
        for status, codes in sorted(by_status.items())
    }


def _flatten(answers: Iterable[AnswerLike]) -> Iterable[Answer]:
    for item in answers:
        if isinstance(item, Answer):
            yield item
        elif isinstance(item, type):
            doc = (item.__doc__ or "").strip().splitlines()
            yield Answer(item.http_status, item.code, doc[0] if doc else "")
        else:
            yield from _flatten(item)


def install_openapi(app: FastAPI) -> None:
    """Serve FastAPI's document without the automatic 422s nothing here answers."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    responses = operation.get("responses", {})
                    ref = str(responses.get("422", {}).get("content", {}))
                    if "HTTPValidationError" in ref:
                        del responses["422"]
            components = schema.get("components", {}).get("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                components.pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
