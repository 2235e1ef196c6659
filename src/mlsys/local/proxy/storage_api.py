"""The gRPC half of the proxy: the BigQuery Storage Read and Write APIs, forwarded as bytes.

Messages pass through undecoded (a generic handler with no serializers); only the field that
names the resource is read from the first request of a call:

=========================================  ==================================================
method                                     permission (resource)
=========================================  ==================================================
``BigQueryRead/CreateReadSession``         ``bigquery.readsessions.create`` (parent project),
                                           ``bigquery.tables.getData`` (the table)
``BigQueryRead/ReadRows``                  ``bigquery.readsessions.getData`` (session project)
``BigQueryRead/SplitReadStream``           ``bigquery.readsessions.update`` (session project)
``BigQueryWrite/*`` (``AppendRows``: its   ``bigquery.tables.updateData`` (the table)
first message)
=========================================  ==================================================
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from grpc import aio

from mlsys.local.iam import Check, Policy
from mlsys.local.proxy import errors
from mlsys.local.proxy.rest import Unauthenticated, principal_of

log = logging.getLogger("mlsys.local.proxy")

READ = "/google.cloud.bigquery.storage.v1.BigQueryRead/"
WRITE = "/google.cloud.bigquery.storage.v1.BigQueryWrite/"
_UNARY_STREAM = {READ + "ReadRows"}
_STREAM_STREAM = {WRITE + "AppendRows"}
_UNARY_UNARY = {
    READ + "CreateReadSession",
    READ + "SplitReadStream",
    WRITE + "CreateWriteStream",
    WRITE + "GetWriteStream",
    WRITE + "FinalizeWriteStream",
    WRITE + "BatchCommitWriteStreams",
    WRITE + "FlushRows",
}
#: Arrow record batches of the Read API and rows of the Write API can be large.
MAX_MESSAGE_BYTES = 256 * 1024 * 1024
OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
]


def checks_of(method: str, request: bytes) -> list[Check]:
    """The checks of the (first) request message of ``method``."""
    from google.cloud.bigquery_storage_v1 import types

    name = method.rsplit("/", 1)[-1]
    if name == "CreateReadSession":
        message = types.CreateReadSessionRequest.deserialize(request)
        return [
            Check("bigquery.readsessions.create", message.parent),
            Check("bigquery.tables.getData", message.read_session.table),
        ]
    if name == "ReadRows":
        stream = types.ReadRowsRequest.deserialize(request).read_stream
        return [Check("bigquery.readsessions.getData", _project_of(stream))]
    if name == "SplitReadStream":
        stream = types.SplitReadStreamRequest.deserialize(request).name
        return [Check("bigquery.readsessions.update", _project_of(stream))]
    fields: dict[str, tuple[Any, str]] = {
        "CreateWriteStream": (types.CreateWriteStreamRequest, "parent"),
        "GetWriteStream": (types.GetWriteStreamRequest, "name"),
        "FinalizeWriteStream": (types.FinalizeWriteStreamRequest, "name"),
        "BatchCommitWriteStreams": (types.BatchCommitWriteStreamsRequest, "parent"),
        "FlushRows": (types.FlushRowsRequest, "write_stream"),
        "AppendRows": (types.AppendRowsRequest, "write_stream"),
    }
    message_type, field = fields[name]
    value = getattr(message_type.deserialize(request), field)
    return [Check("bigquery.tables.updateData", _table_of(value))]


def _project_of(name: str) -> str:
    return "/".join(name.split("/")[:2])


def _table_of(name: str) -> str:
    return "/".join(name.split("/")[:6])  # projects/P/datasets/D/tables/T[/streams/S]


class StorageApiProxy(grpc.GenericRpcHandler):
    """Forwards every known Storage API method to ``upstream`` after its checks."""

    def __init__(self, upstream: str, policy: Policy) -> None:
        self.channel = aio.insecure_channel(upstream, options=OPTIONS)
        self.policy = policy

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method = details.method
        if method in _UNARY_UNARY:
            return grpc.unary_unary_rpc_method_handler(self._unary_unary(method))
        if method in _UNARY_STREAM:
            return grpc.unary_stream_rpc_method_handler(self._unary_stream(method))
        if method in _STREAM_STREAM:
            return grpc.stream_stream_rpc_method_handler(self._stream_stream(method))
        return None

    async def _authorize(self, method: str, request: bytes, context: aio.ServicerContext) -> None:
        metadata = dict(context.invocation_metadata() or ())
        try:
            principal = principal_of(metadata.get("authorization"))
        except Unauthenticated as exc:
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                errors.unauthenticated(exc.token)["error"]["message"],
            )
        if principal is None:
            return
        for check in checks_of(method, request):
            if not self.policy.allows(principal, check.permission, check.resource):
                log.warning("denied %s %s: %s", principal, method, check)
                email = self.policy.email(principal)
                await context.abort(
                    grpc.StatusCode.PERMISSION_DENIED, errors.grpc_message(check, email)
                )

    @staticmethod
    def _call_args(context: aio.ServicerContext) -> dict[str, Any]:
        metadata = [
            (k, v) for k, v in (context.invocation_metadata() or ()) if k != "authorization"
        ]
        remaining = context.time_remaining()
        return {"metadata": metadata, "timeout": remaining}

    def _unary_unary(self, method: str) -> Callable[..., Any]:
        call = self.channel.unary_unary(method)

        async def handler(request: bytes, context: aio.ServicerContext) -> bytes:
            await self._authorize(method, request, context)
            try:
                return await call(request, **self._call_args(context))
            except aio.AioRpcError as exc:
                await context.abort(exc.code(), exc.details() or "")
                raise  # unreachable: abort raises

        return handler

    def _unary_stream(self, method: str) -> Callable[..., Any]:
        call = self.channel.unary_stream(method)

        async def handler(request: bytes, context: aio.ServicerContext) -> AsyncIterator[bytes]:
            await self._authorize(method, request, context)
            try:
                async for response in call(request, **self._call_args(context)):
                    yield response
            except aio.AioRpcError as exc:
                await context.abort(exc.code(), exc.details() or "")

        return handler

    def _stream_stream(self, method: str) -> Callable[..., Any]:
        call = self.channel.stream_stream(method)

        async def handler(
            requests: AsyncIterator[bytes], context: aio.ServicerContext
        ) -> AsyncIterator[bytes]:
            first = await anext(aiter(requests), None)
            if first is None:
                return
            await self._authorize(method, first, context)

            async def upstream() -> AsyncIterator[bytes]:
                yield first
                async for request in requests:
                    yield request

            try:
                async for response in call(upstream(), **self._call_args(context)):
                    yield response
            except aio.AioRpcError as exc:
                await context.abort(exc.code(), exc.details() or "")

        return handler
