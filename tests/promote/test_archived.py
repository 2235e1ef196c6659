"""Archived means archived: after `mlsys archive`, show, history and the API say so, and both
prediction engines refuse the version (409 VERSION_ARCHIVED) unless allow_archived is set."""

from __future__ import annotations

import json

import httpx
import pytest
from typer.testing import CliRunner

from mlsys.errors import VersionArchived
from mlsys.predict import PredictionRequest, run_prediction
from mlsys.predict.plan import plan
from service.main import create_app
from tests.promote.helpers import upload

runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def commands():
    from mlsys.cli import _register, app

    if "archive" not in {c.name for c in app.registered_commands}:
        _register()


def cli(*args: str):
    from mlsys.cli import app

    return runner.invoke(app, list(args))


@pytest.fixture(scope="module")
def archived(stack, training_table, model_bytes, features):
    """A model with v1 archived in dev and v2 live."""
    name = "archived-model"
    meta = {"features": features, "target": "Survived", "training_data": training_table}
    upload(model_bytes, name, 1, metadata=meta)
    upload(model_bytes + b"\n", name, 2, metadata=meta)  # other bytes: not a duplicate
    result = cli("archive", name, "v1", "--env", "dev")
    assert result.exit_code == 0 and "archived v1" in result.output, result.output
    return name


def test_show_displays_the_archived_state(archived):
    table = cli("models", "show", archived, "--env", "dev")
    assert table.exit_code == 0, table.output
    rows = {line.split()[1]: line for line in table.output.splitlines() if "│ v" in line}
    assert "archived" in rows["v1"] and "archived" not in rows["v2"]

    one = cli("models", "show", archived, "v1", "--env", "dev")
    assert one.exit_code == 0 and "status: archived" in one.output, one.output
    body = json.loads(cli("models", "show", archived, "v1", "--env", "dev", "--json").output)
    assert body["archived"] is True and body["archived_at"] and body["status"] == "registered"
    live = json.loads(cli("models", "show", archived, "v2", "--env", "dev", "--json").output)
    assert live["archived"] is False


def test_history_displays_the_archived_state(archived):
    body = json.loads(cli("models", "history", archived, "--json").output)
    stages = {s["version_label"]: s for s in body["stages"]}
    assert stages["v1"]["environments"] == {"dev": "archived"}
    assert stages["v1"]["stage"] == "archived" and stages["v2"]["stage"] == "draft"
    table = cli("models", "history", archived)
    assert table.exit_code == 0 and "dev:archived" in table.output, table.output


def test_the_api_says_a_version_is_archived(archived):
    from fastapi.testclient import TestClient

    client = TestClient(create_app())
    one = client.get(f"/models/{archived}/versions/v1", params={"env": "dev"}).json()
    assert one["archived"] is True and one["archived_by"]
    listing = client.get(f"/models/{archived}/versions", params={"env": "dev"}).json()
    assert [v["archived"] for v in listing] == [True, False]


def _body(archived: str, table: str, out: str, **extra) -> dict:
    return {
        "env": "dev",
        "input_table": table,
        "output_table": out,
        "model_name": archived,
        "model_version": "v1",
        "write_disposition": "truncate",
        **extra,
    }


def test_the_running_service_refuses_an_archived_version_with_409(
    archived, settings, training_table, dev_outputs, unique
):
    out = f"{dev_outputs}.archived_out_{unique}"
    with httpx.Client(base_url=settings.service_url, timeout=120) as service:
        refused = service.post("/predict", json=_body(archived, training_table, out))
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"] == "VERSION_ARCHIVED"
        assert "archived in dev" in refused.json()["message"]
        assert "allow_archived" in refused.json()["message"]
        allowed = service.post(
            "/predict", json=_body(archived, training_table, out, allow_archived=True)
        )
        assert allowed.status_code == 200, allowed.text
        assert allowed.json()["model_version"] == 1 and allowed.json()["rows_written"] > 0
        live = service.post(
            "/predict", json=_body(archived, training_table, out) | {"model_version": "v2"}
        )
        assert live.status_code == 200, live.text


def test_both_engines_and_the_cli_refuse_unless_allowed(
    archived, training_table, dev_outputs, unique
):
    out = f"{dev_outputs}.archived_cli_{unique}"
    with pytest.raises(VersionArchived):
        run_prediction(**_body(archived, training_table, out))
    with pytest.raises(VersionArchived):  # the sharded engine's launch checks the same way
        plan(PredictionRequest.parse({**_body(archived, training_table, out), "engine": "job"}))
    args = ["predict", "--env", "dev", "--input", training_table, "--output", out]
    args += ["--model", archived, "--version", "v1", "--write-disposition", "truncate"]
    refused = cli(*args)
    assert isinstance(refused.exception, VersionArchived)
    allowed = cli(*args, "--allow-archived")
    assert allowed.exit_code == 0, allowed.output
    assert "rows of archived-model v1" in allowed.output
