"""`mlsys models ...` and `mlsys registry sync` through Typer's runner, on the emulator stack."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mlsys.cli import _register, app
from mlsys.gcs import gcs_put
from mlsys.registry import wait_for_version

runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def commands():
    if not app.registered_groups:
        _register()


@pytest.fixture(scope="module")
def model(stack):
    name = "cli-registry-model"
    gcs_put(
        json.dumps({"description": "cli model", "tags": ["cli"]}),
        "mlsys-models-dev",
        f"{name}/v1/metadata.json",
    )
    gcs_put(b"abc", "mlsys-models-dev", f"{name}/v1/model.pkl")
    wait_for_version("dev", name, 1)
    return name


def test_models_list_json(model):
    result = runner.invoke(app, ["models", "list", "--env", "dev", "--tag", "cli", "--json"])
    assert result.exit_code == 0, result.output
    assert [m["model_name"] for m in json.loads(result.output)["models"]] == [model]


def test_models_show_version_json(model):
    result = runner.invoke(app, ["models", "show", model, "v1", "--env", "dev", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["version_label"] == "v1"


def test_models_show_table(model):
    result = runner.invoke(app, ["models", "show", model, "--env", "dev"])
    assert result.exit_code == 0 and "v1" in result.output and "regist" in result.output


def test_registry_sync_reports_counts(model):
    result = runner.invoke(app, ["registry", "sync", "--env", "dev"])
    assert result.exit_code == 0, result.output
    assert "already recorded" in result.output
