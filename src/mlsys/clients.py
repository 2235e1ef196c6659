"""Google Cloud clients, built once per process and environment, and reused.

Every environment lives in its own project (``Settings.project_for``), so clients are per
environment: a BigQuery client bills its jobs to that environment's project, and a read
session's parent is that project, never the input table's.

When the settings name an emulator (``STORAGE_EMULATOR_HOST``, ``BIGQUERY_EMULATOR_HOST``,
``BIGQUERY_STORAGE_EMULATOR_HOST``), every client talks to it: with the bearer token of
``MLSYS_LOCAL_IDENTITY`` when set (the local stack's components, refused what Terraform does not
grant them), else anonymously (a person's own credentials, the project owner). Otherwise the
official clients use Application Default Credentials as on Google Cloud.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials, Credentials

from mlsys.settings import Settings, check_env, get_settings

if TYPE_CHECKING:
    from google.cloud import bigquery, storage
    from google.cloud.bigquery_storage_v1 import BigQueryReadClient, BigQueryWriteClient

#: gRPC messages from the Storage Read API can be large Arrow batches.
GRPC_MAX_MESSAGE_BYTES = 256 * 1024 * 1024


def _env(env: str | None) -> str:
    return check_env(env) if env is not None else get_settings().mlsys_env


def storage_client(env: str | None = None) -> storage.Client:
    """The process's Cloud Storage client for ``env`` (default: ``MLSYS_ENV``)."""
    return _storage_client(_env(env))


def bigquery_client(env: str | None = None) -> bigquery.Client:
    """The process's BigQuery client for ``env`` (default: ``MLSYS_ENV``): jobs run and are
    billed in that environment's project."""
    return _bigquery_client(_env(env))


def bigquery_read_client(env: str | None = None) -> BigQueryReadClient:
    """The BigQuery Storage Read API client (Arrow streams) for ``env``, pointed at the emulator
    if any."""
    return _bigquery_read_client(_env(env))


@functools.cache
def _storage_client(env: str) -> storage.Client:
    return make_storage_client(get_settings(), env)


@functools.cache
def _bigquery_client(env: str) -> bigquery.Client:
    return make_bigquery_client(get_settings(), env)


def emulator_credentials(settings: Settings, env: str) -> Credentials:
    """The local stack's credentials: this process's identity for ``env``, else the owner."""
    if not settings.local_identity:
        return AnonymousCredentials()
    from google.oauth2.credentials import Credentials as TokenCredentials

    from mlsys.local.identities import token_for

    return TokenCredentials(token=token_for(settings.local_identity, env))


def make_storage_client(settings: Settings, env: str | None = None) -> storage.Client:
    """A new Cloud Storage client for ``settings`` (prefer the cached :func:`storage_client`)."""
    from google.cloud import storage

    env = env or settings.mlsys_env
    project = settings.project_for(env)
    if settings.storage_emulator_host:
        return storage.Client(
            project=project,
            credentials=emulator_credentials(settings, env),
            client_options=ClientOptions(api_endpoint=settings.storage_emulator_host),
        )
    return storage.Client(project=project)


def make_bigquery_client(settings: Settings, env: str | None = None) -> bigquery.Client:
    """A new BigQuery client for ``settings`` (prefer the cached :func:`bigquery_client`)."""
    from google.cloud import bigquery

    env = env or settings.mlsys_env
    project = settings.project_for(env)
    if settings.bigquery_emulator_host:
        # The emulator rejects small multipart load jobs ("unsupported Content-Type '*/*'");
        # a zero threshold makes the client always use resumable uploads, which it accepts.
        import google.cloud.bigquery.client as bq_client_module

        bq_client_module._MAX_MULTIPART_SIZE = 0
        return bigquery.Client(
            project=project,
            location=settings.bq_location,
            credentials=emulator_credentials(settings, env),
            client_options=ClientOptions(api_endpoint=settings.bigquery_emulator_host),
        )
    return bigquery.Client(project=project, location=settings.bq_location)


def grpc_channel(settings: Settings, env: str) -> Any:
    """A gRPC channel to the emulator's Storage APIs, carrying ``env``'s identity token."""
    import grpc

    if not settings.bigquery_storage_emulator_host:
        raise RuntimeError("no BIGQUERY_STORAGE_EMULATOR_HOST: use the real Storage API")
    target = settings.bigquery_storage_emulator_host.removeprefix("http://")
    channel = grpc.insecure_channel(target, options=GRPC_OPTIONS)
    if settings.local_identity:
        from mlsys.local.identities import token_for

        token = token_for(settings.local_identity, env)
        channel = grpc.intercept_channel(channel, _bearer_interceptor(token))
    return channel


#: gRPC options of the Storage API clients.
GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", GRPC_MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", GRPC_MAX_MESSAGE_BYTES),
    # No bandwidth-delay probing: it grows receive buffers; measured 10-25 MiB less peak
    # RSS when streaming 1M rows (bench/predict.py).
    ("grpc.http2.bdp_probe", 0),
]


@functools.cache
def _bigquery_read_client(env: str) -> BigQueryReadClient:
    from google.cloud.bigquery_storage_v1 import BigQueryReadClient
    from google.cloud.bigquery_storage_v1.services.big_query_read.transports import (
        BigQueryReadGrpcTransport,
    )

    return _storage_api_client(BigQueryReadClient, BigQueryReadGrpcTransport, env, "Read")


def _storage_api_client(client: type[Any], transport: type[Any], env: str, api: str) -> Any:
    """A Storage Read or Write API client: on the emulator's channel (with this process's
    identity) when one is set, else on Google's with Application Default Credentials."""
    settings = get_settings()
    if settings.bigquery_storage_emulator_host:
        return client(transport=transport(channel=grpc_channel(settings, env)))
    if settings.bigquery_emulator_host:
        raise RuntimeError(
            "BIGQUERY_EMULATOR_HOST is set but BIGQUERY_STORAGE_EMULATOR_HOST is not: refusing "
            f"to send Storage {api} API calls to the real BigQuery"
        )
    return client(transport=transport(channel=transport.create_channel(options=GRPC_OPTIONS)))


def bigquery_write_client(env: str | None = None) -> BigQueryWriteClient:
    """The BigQuery Storage Write API client for ``env``, pointed at the emulator if any."""
    return _bigquery_write_client(_env(env))


@functools.cache
def _bigquery_write_client(env: str) -> BigQueryWriteClient:
    from google.cloud.bigquery_storage_v1 import BigQueryWriteClient
    from google.cloud.bigquery_storage_v1.services.big_query_write.transports import (
        BigQueryWriteGrpcTransport,
    )

    return _storage_api_client(BigQueryWriteClient, BigQueryWriteGrpcTransport, env, "Write")


def _bearer_interceptor(token: str) -> Any:
    """Adds ``authorization: Bearer TOKEN`` to every call on an insecure (local) channel,
    where gRPC refuses call credentials."""
    import collections

    import grpc

    fields = ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression")

    class Details(collections.namedtuple("Details", fields), grpc.ClientCallDetails):  # type: ignore[misc]
        pass

    class Interceptor(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
        def _with_token(self, details: Any) -> Any:
            metadata = [*(details.metadata or []), ("authorization", f"Bearer {token}")]
            return Details(  # type: ignore[call-arg]
                details.method,
                details.timeout,
                metadata,
                details.credentials,
                getattr(details, "wait_for_ready", None),
                getattr(details, "compression", None),
            )

        def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
            return continuation(self._with_token(details), request)

        def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
            return continuation(self._with_token(details), request)

    return Interceptor()


def reset_clients() -> None:
    """Drop the cached clients so the next call builds them from fresh settings."""
    _bigquery_write_client.cache_clear()
    _storage_client.cache_clear()
    _bigquery_client.cache_clear()
    _bigquery_read_client.cache_clear()
