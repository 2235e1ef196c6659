"""What a proxied request needs: the body it must look at, then the checks it implies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, unquote

from mlsys.local.iam import Check

#: What of the request body a route must read before it can name its checks: nothing, the
#: whole (small JSON) body, or only the JSON first part of a multipart upload (the media part
#: streams on untouched).
BodyNeed = Literal["none", "json", "multipart"]


@dataclass(frozen=True)
class Route:
    """A request's checks, computed from the body metadata it needs (None when ``none``)."""

    need: BodyNeed
    checks: Callable[[dict[str, Any] | None], list[Check]]
    #: For list calls whose answer must be filtered per caller (BigQuery ``datasets.list``).
    filter_datasets: bool = False


def fixed(*checks: Check) -> Route:
    return Route("none", lambda _meta: list(checks))


def segments(raw_path: str) -> list[str]:
    """The percent-decoded segments of a raw path (``%2F`` in a segment stays inside it)."""
    return [unquote(s) for s in raw_path.split("/")[1:]]


def q(name: str) -> str:
    """Percent-encode one path segment (object names hold slashes)."""
    return quote(name, safe="")
