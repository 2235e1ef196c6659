"""The service's OpenAPI as the tests read it: which statuses each operation documents."""

from __future__ import annotations

import functools
from typing import Any

from service.main import create_app


@functools.cache
def openapi() -> dict[str, Any]:
    return create_app().openapi()


def documented(method: str, path: str) -> set[int]:
    """The statuses the OpenAPI documents for ``METHOD /path/{template}``."""
    operation = openapi()["paths"][path][method.lower()]
    return {int(status) for status in operation["responses"]}


def assert_documented(method: str, path: str, status: int) -> None:
    """A status a test request got must be in the document."""
    assert status in documented(method, path), f"{method} {path} answered undocumented {status}"
