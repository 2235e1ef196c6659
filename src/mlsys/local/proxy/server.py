"""The proxy process: two REST listeners and one gRPC listener on one asyncio loop.

Run: ``python -m mlsys.local.proxy --infra DIR --gcs PORT=UPSTREAM --bigquery PORT=UPSTREAM
--storage-api PORT=HOST:PORT``. The stack's settings (projects, buckets) come from the
environment, as for every component.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from grpc import aio
from starlette.types import Receive, Scope, Send

from mlsys.local.iam import derive_policy
from mlsys.local.proxy import bigquery, errors, storage
from mlsys.local.proxy.rest import RestProxy
from mlsys.local.proxy.storage_api import OPTIONS, StorageApiProxy
from mlsys.settings import get_settings

log = logging.getLogger("mlsys.local.proxy")


class _ByPort:
    """One ASGI app per listening port (uvicorn serves both sockets from one server)."""

    def __init__(self, apps: dict[int, RestProxy]) -> None:
        self.apps = apps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan_all(list(self.apps.values()), receive, send)
            return
        await self.apps[scope["server"][1]](scope, receive, send)


async def _lifespan_all(apps: list[RestProxy], receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            for app in apps:
                await app.client.aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the process stops REST and gRPC together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _listen(port: int, host: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


async def serve(
    infra: Path, gcs: tuple[int, str], bq: tuple[int, str], grpc_api: tuple[int, str]
) -> None:
    """Serve until SIGTERM/SIGINT."""
    settings = get_settings()
    policy = derive_policy(infra, settings)
    default_project = settings.gcp_project_id
    apps = {
        gcs[0]: RestProxy(
            gcs[1],
            policy,
            lambda m, p, q: storage.route(m, p, q, default_project),
            errors.storage_denied,
        ),
        bq[0]: RestProxy(bq[1], policy, bigquery.route, errors.bigquery_denied),
    }
    sockets = [_listen(gcs[0]), _listen(bq[0])]
    config = uvicorn.Config(
        _ByPort(apps),
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_keep_alive=120,  # clients keep pooled connections open between calls
    )
    rest = _Server(config)
    grpc_server = aio.server(options=OPTIONS)
    grpc_server.add_generic_rpc_handlers([StorageApiProxy(grpc_api[1], policy)])
    grpc_server.add_insecure_port(f"127.0.0.1:{grpc_api[0]}")
    await grpc_server.start()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: setattr(rest, "should_exit", True))
    log.info(
        "proxy: gcs :%d -> %s, bigquery :%d -> %s, storage api :%d -> %s (%d bindings)",
        *gcs,
        *bq,
        *grpc_api,
        len(policy.bindings),
    )
    try:
        await rest.serve(sockets=sockets)
    finally:
        await grpc_server.stop(grace=2)


def _pair(value: str) -> tuple[int, str]:
    port, _, upstream = value.partition("=")
    return int(port), upstream


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m mlsys.local.proxy", description=__doc__)
    parser.add_argument("--infra", required=True, help="the Terraform folder (infra/)")
    parser.add_argument("--gcs", required=True, type=_pair, help="PORT=http://fake-gcs-server")
    parser.add_argument("--bigquery", required=True, type=_pair, help="PORT=http://bqemulator")
    parser.add_argument("--storage-api", required=True, type=_pair, help="PORT=HOST:GRPC_PORT")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per forwarded call otherwise
    asyncio.run(serve(Path(args.infra), args.gcs, args.bigquery, args.storage_api))
