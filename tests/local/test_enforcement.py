"""Least privilege on the running local stack: raw official clients with a local identity's
token get what Terraform grants that identity and a Google-shaped 403 for the rest; without a
token they act as the project owner."""

from __future__ import annotations

import re

import pytest
from google.api_core import exceptions as gexc
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery, storage
from google.oauth2.credentials import Credentials
from typer.testing import CliRunner

from mlsys.cli import _register, app


def token(identity: str, env: str = "dev") -> str:
    """What `mlsys local token --as IDENTITY --env ENV` prints."""
    _register()
    result = CliRunner().invoke(app, ["local", "token", "--as", identity, "--env", env])
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def credentials(bearer: str | None):
    return Credentials(token=bearer) if bearer else AnonymousCredentials()


def bq(stack, settings, bearer: str | None) -> bigquery.Client:
    """A raw client sent to BIGQUERY_EMULATOR_HOST, as a user would build one."""
    return bigquery.Client(
        project=settings.project_for("dev"),
        credentials=credentials(bearer),
        client_options=ClientOptions(api_endpoint=stack.env["BIGQUERY_EMULATOR_HOST"]),
    )


def gcs(stack, settings, bearer: str | None) -> storage.Client:
    return storage.Client(
        project=settings.project_for("dev"),
        credentials=credentials(bearer),
        client_options=ClientOptions(api_endpoint=stack.env["STORAGE_EMULATOR_HOST"]),
    )


def event_row(unique: str) -> dict:
    return {
        "event_id": f"enforcement-{unique}",
        "event_type": "finalized",
        "status": "rejected",
        "registered_at": "2024-01-01T00:00:00Z",
        "reject_reason": "written by tests/local/test_enforcement.py",
    }


def test_token_names_the_identity_and_its_environment():
    assert token("service") == "mlsys-local:service@dev"
    assert token("promoter", "prod") == "mlsys-local:promoter@prod"
    _register()
    bad = CliRunner().invoke(app, ["local", "token", "--as", "admin"])
    assert bad.exit_code == 2 and "unknown local identity" in bad.output


def test_service_reads_the_registry_view_but_cannot_append_events(stack, settings, unique):
    client = bq(stack, settings, token("service"))
    view = f"{settings.dataset_ref('dev')}.model_registry"
    rows = list(client.query(f"SELECT model_name FROM `{view}` LIMIT 5").result())
    assert isinstance(rows, list)
    events = f"{settings.dataset_ref('dev')}.model_registry_events"
    with pytest.raises(gexc.Forbidden, match=re.escape("bigquery.tables.updateData")) as refused:
        client.insert_rows_json(events, [event_row(unique)])
    message = refused.value.message
    assert "Access Denied: Table mlsys-local-dev:mlsys_dev.model_registry_events" in message
    assert refused.value.errors[0]["reason"] == "accessDenied"


def test_service_cannot_write_the_models_bucket(stack, settings, unique):
    blob = gcs(stack, settings, token("service")).bucket(settings.bucket_for("dev"))
    with pytest.raises(gexc.Forbidden, match=re.escape("storage.objects.create")) as refused:
        blob.blob(f"enforcement-{unique}/v1/model.pkl").upload_from_string(b"not a model")
    assert "mlsys-predict-dev@mlsys-local-dev.iam.gserviceaccount.com" in refused.value.message
    # ... and reads it: objectViewer
    owner = gcs(stack, settings, None).bucket(settings.bucket_for("dev"))
    owner.blob(f"enforcement-{unique}/notes.txt").upload_from_string(b"hello")
    assert blob.blob(f"enforcement-{unique}/notes.txt").download_as_bytes() == b"hello"


def test_function_appends_registry_events(stack, settings, unique):
    events = f"{settings.dataset_ref('dev')}.model_registry_events"
    client = bq(stack, settings, token("function"))
    assert client.insert_rows_json(events, [event_row(unique)], row_ids=[unique]) == []
    with pytest.raises(gexc.Forbidden, match=re.escape("bigquery.tables.delete")):  # append only
        client.query(f"DROP TABLE `{events}`").result()


def test_a_grant_in_another_environment_gives_nothing_here(stack, settings):
    client = bq(stack, settings, token("service", "staging"))
    with pytest.raises(gexc.Forbidden, match=re.escape("bigquery.jobs.create")):
        client.query("SELECT 1").result()  # billed to the dev project: no jobUser there


def test_without_a_token_everything_works_as_the_owner(stack, settings, unique):
    client = bq(stack, settings, None)
    table = f"{settings.dataset_ref('dev')}.owner_{unique}"
    client.query(f"CREATE TABLE `{table}` AS SELECT 1 AS x").result()
    client.delete_table(table)
    bucket = gcs(stack, settings, None).bucket(settings.bucket_for("prod"))
    bucket.blob(f"owner-{unique}.txt").upload_from_string(b"x")
    bucket.blob(f"owner-{unique}.txt").delete()


def test_a_malformed_local_token_is_unauthenticated(stack, settings):
    import httpx

    response = httpx.get(
        f"{stack.env['BIGQUERY_EMULATOR_HOST']}/bigquery/v2/projects/mlsys-local-dev/datasets",
        headers={"authorization": "Bearer mlsys-local:root@dev"},
    )
    assert response.status_code == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"


def test_storage_read_api_needs_a_read_session_grant(stack, settings, unique):
    import grpc
    from google.cloud.bigquery_storage_v1 import BigQueryReadClient, types
    from google.cloud.bigquery_storage_v1.services.big_query_read.transports import (
        BigQueryReadGrpcTransport,
    )

    from mlsys.clients import _bearer_interceptor

    table = f"{settings.dataset_ref('dev')}.model_registry_events"
    path = "projects/{}/datasets/{}/tables/{}".format(*table.split("."))

    def session(identity: str):
        channel = grpc.intercept_channel(
            grpc.insecure_channel(stack.env["BIGQUERY_STORAGE_EMULATOR_HOST"]),
            _bearer_interceptor(token(identity)),
        )
        client = BigQueryReadClient(transport=BigQueryReadGrpcTransport(channel=channel))
        return client.create_read_session(
            parent=f"projects/{settings.project_for('dev')}",
            read_session=types.ReadSession(table=path, data_format=types.DataFormat.ARROW),
            max_stream_count=1,
        )

    assert session("job").table == path  # readSessionUser + dataViewer on the registry
    with pytest.raises(gexc.PermissionDenied, match=re.escape("bigquery.readsessions.create")):
        session("function")  # appends, but holds no read-session grant


def test_models_answers_403_when_terraform_drops_the_services_read_grant(
    stack, settings, mutated_infra, tmp_path
):
    """A proxy derived from a copy of infra/ without ``service_reads_registry``, in front of the
    same emulators, and a service process behind it: the real request path of `/models`."""
    import os
    import sys

    import httpx

    from mlsys.local import processes
    from tests.conftest import ROOT
    from tests.local.test_policy import SERVICE_READS_REGISTRY

    copy = mutated_infra("modules/mlsys/iam.tf", SERVICE_READS_REGISTRY, "")
    direct = stack.extra["direct"]
    gcs_port, bq_port, grpc_port, service_port = (processes.free_port() for _ in range(4))
    base = {k: v for k, v in os.environ.items() if k != "MLSYS_LOCAL_IDENTITY"}
    proxy = processes.spawn(
        "proxy",
        [
            *(sys.executable, "-m", "mlsys.local.proxy", "--infra", str(copy)),
            *("--gcs", f"{gcs_port}={direct['STORAGE_EMULATOR_HOST']}"),
            *("--bigquery", f"{bq_port}={direct['BIGQUERY_EMULATOR_HOST']}"),
            *("--storage-api", f"{grpc_port}={direct['BIGQUERY_STORAGE_EMULATOR_HOST']}"),
        ],
        port=gcs_port,
        url="-",
        log_path=tmp_path / "proxy.log",
        env=base,
        cwd=ROOT,
    )
    service_env = {
        **base,
        "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{gcs_port}",
        "BIGQUERY_EMULATOR_HOST": f"http://127.0.0.1:{bq_port}",
        "BIGQUERY_STORAGE_EMULATOR_HOST": f"127.0.0.1:{grpc_port}",
        "MLSYS_LOCAL_IDENTITY": "service",
    }
    service = processes.spawn(
        "service",
        [
            *(sys.executable, "-m", "uvicorn", "service.main:app", "--app-dir", str(ROOT)),
            *("--host", "127.0.0.1", "--port", str(service_port), "--log-level", "warning"),
        ],
        port=service_port,
        url="-",
        log_path=tmp_path / "service.log",
        env=service_env,
        cwd=ROOT,
    )
    try:
        url = f"http://127.0.0.1:{service_port}"
        processes.wait_ready(
            {"proxy": proxy, "service": service},
            {
                "proxy": processes.tcp_ready(bq_port),
                "service": processes.http_ready(f"{url}/health"),
            },
            120,
        )
        refused = httpx.get(f"{url}/models", params={"env": "dev"}, timeout=60)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"] == "PERMISSION_DENIED"
        assert "bigquery.tables.getData" in refused.json()["message"]
        # the same request to the stack's own service (real infra/) is served
        served = httpx.get(f"{settings.service_url}/models", params={"env": "dev"}, timeout=60)
        assert served.status_code == 200, served.text
    finally:
        processes.stop(service)
        processes.stop(proxy)
