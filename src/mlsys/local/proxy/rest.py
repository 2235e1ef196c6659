"""The REST half of the proxy: one ASGI app per emulator, streaming both ways.

A request from the owner (no token) is forwarded untouched. A request with a local identity's
token is mapped to its checks (:mod:`.storage`, :mod:`.bigquery`); if one is not granted the
answer is Google's 403, else the request is forwarded. Bodies stream through httpx: only the
small JSON that names a resource is read first (a job's configuration, an upload's object
metadata, the first part of a multipart upload), never the media. Upstream connections are
pooled and kept alive.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from mlsys.local.components import HEALTH_PATH
from mlsys.local.iam import Check, Policy
from mlsys.local.identities import TOKEN_PREFIX, parse_token
from mlsys.local.proxy import errors
from mlsys.local.proxy.routes import Route

log = logging.getLogger("mlsys.local.proxy")

Mapper = Callable[[str, str, Mapping[str, str]], Route]
Denial = Callable[[Check, str], dict[str, Any]]

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
}
#: A JSON body read before forwarding is metadata (a job, an object resource): a cap keeps a
#: misrouted upload from being held in memory.
MAX_METADATA_BYTES = 4 * 1024 * 1024


class Unauthenticated(Exception):
    def __init__(self, token: str) -> None:
        self.token = token


def principal_of(authorization: str | None) -> str | None:
    """``identity@env`` of a bearer token of the local stack; None (the owner) without one.

    A token that is not the stack's (a person's own credentials) is the owner too; one that
    claims to be the stack's but names no identity is refused (401)."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else authorization.strip()
    if not token.startswith(TOKEN_PREFIX):
        return None
    parsed = parse_token(token)
    if parsed is None:
        raise Unauthenticated(token)
    return f"{parsed[0]}@{parsed[1]}"


class RestProxy:
    """An ASGI app forwarding to ``upstream`` what ``policy`` allows."""

    def __init__(self, upstream: str, policy: Policy, mapper: Mapper, denial: Denial) -> None:
        self.upstream = upstream.rstrip("/")
        self.policy = policy
        self.mapper = mapper
        self.denial = denial
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(10.0, read=None, write=None, pool=None),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send, self.client)
            return
        response = await self.handle(Request(scope, receive))
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        if request.url.path == HEALTH_PATH:  # the supervisor's probe, answered here
            return JSONResponse({"status": "ok", "upstream": self.upstream})
        try:
            principal = principal_of(request.headers.get("authorization"))
        except Unauthenticated as exc:
            return JSONResponse(errors.unauthenticated(exc.token), status_code=401)
        raw_path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
        raw_path = raw_path.split("?", 1)[0]
        query = dict(parse_qsl(request.url.query, keep_blank_values=True))
        stream = request.stream()
        body: bytes | AsyncIterator[bytes] = stream
        route: Route | None = None
        if principal is not None:
            route = self.mapper(request.method, raw_path, query)
            meta, body = await _metadata(route, request, stream)
            denied = await self.first_denied(principal, route.checks(meta))
            if denied is not None:
                log.warning("denied %s %s %s: %s", principal, request.method, raw_path, denied)
                return JSONResponse(
                    self.denial(denied, self.policy.email(principal)), status_code=403
                )
        return await self.forward(request, raw_path, body, principal, route)

    async def first_denied(self, principal: str, checks: list[Check]) -> Check | None:
        for check in checks:
            if self.policy.allows(principal, check.permission, check.resource):
                continue
            if check.when is not None and not await self._holds(check.when):
                continue
            return check
        return None

    async def _holds(self, condition: tuple[str, str]) -> bool:
        kind, path = condition
        response = await self.client.get(self.upstream + path)
        exists = response.status_code == 200
        return exists if kind == "exists" else response.status_code == 404

    async def forward(
        self,
        request: Request,
        raw_path: str,
        body: bytes | AsyncIterator[bytes],
        principal: str | None,
        route: Route | None,
    ) -> Response:
        url = self.upstream + raw_path + (f"?{request.url.query}" if request.url.query else "")
        headers = [
            (k, v)
            for k, v in request.headers.raw
            if k.decode("latin-1").lower() not in _HOP_BY_HOP and k.lower() != b"authorization"
        ]
        upstream = self.client.build_request(request.method, url, headers=headers, content=body)
        try:
            response = await self.client.send(upstream, stream=True)
        except httpx.HTTPError as exc:
            message = f"the emulator behind the local stack's proxy is unavailable: {exc!r}"
            payload = {"error": {"code": 503, "message": message, "status": "UNAVAILABLE"}}
            return JSONResponse(payload, status_code=503)
        out = {k: v for k, v in response.headers.items() if k.lower() not in _HOP_BY_HOP}
        if route is not None and route.filter_datasets and response.status_code == 200:
            return await self._filtered_datasets(response, principal, out)
        return StreamingResponse(
            response.aiter_raw(),
            status_code=response.status_code,
            headers=out,
            background=BackgroundTask(response.aclose),
        )

    async def _filtered_datasets(
        self, response: httpx.Response, principal: str | None, headers: dict[str, str]
    ) -> Response:
        """``datasets.list`` answers only the datasets the caller may get, as BigQuery does."""
        await response.aread()
        payload = response.json()
        payload["datasets"] = [
            d
            for d in payload.get("datasets") or []
            if self.policy.allows(
                principal,
                "bigquery.datasets.get",
                "projects/{projectId}/datasets/{datasetId}".format(**d["datasetReference"]),
            )
        ]
        keep = {
            k: v
            for k, v in headers.items()
            if k.lower() not in ("content-length", "content-encoding")
        }
        return JSONResponse(payload, status_code=200, headers=keep)


async def _metadata(
    route: Route, request: Request, stream: AsyncIterator[bytes]
) -> tuple[dict[str, Any] | None, bytes | AsyncIterator[bytes]]:
    """The metadata a route needs, and the body to forward (what was read, then the rest)."""
    if route.need == "json":
        data = b""
        async for chunk in stream:
            data += chunk
            if len(data) > MAX_METADATA_BYTES:
                break
        try:
            meta = json.loads(data) if data else {}
        except ValueError:
            meta = {}
        return (meta if isinstance(meta, dict) else {}), data
    if route.need == "multipart":
        return await _multipart_head(request.headers.get("content-type", ""), stream)
    return None, stream


async def _multipart_head(
    content_type: str, stream: AsyncIterator[bytes]
) -> tuple[dict[str, Any], AsyncIterator[bytes]]:
    """The JSON first part of a ``multipart/related`` upload; the media part is not read."""
    boundary = content_type.partition("boundary=")[2].split(";")[0].strip().strip('"').encode()
    head = b""
    delimiter = b"\r\n--" + boundary
    async for chunk in stream:
        head += chunk
        start = head.find(b"\r\n\r\n")
        if (start >= 0 and head.find(delimiter, start) >= 0) or len(head) > MAX_METADATA_BYTES:
            break
    meta: dict[str, Any] = {}
    start = head.find(b"\r\n\r\n")
    end = head.find(delimiter, start) if start >= 0 else -1
    if boundary and start >= 0 and end > start:
        try:
            parsed = json.loads(head[start + 4 : end])
            meta = parsed if isinstance(parsed, dict) else {}
        except ValueError:
            meta = {}

    async def rest() -> AsyncIterator[bytes]:
        yield head
        async for chunk in stream:
            yield chunk

    return meta, rest()


async def _lifespan(receive: Receive, send: Send, client: httpx.AsyncClient) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await client.aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return
