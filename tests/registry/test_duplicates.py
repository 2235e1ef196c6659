"""A re-upload of identical bytes as a new version is registered but flagged: `duplicate_of` in
the registry, a warning in the CLI and in the registry function's log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from mlsys.cli import _register, app
from mlsys.gcs import gcs_put
from mlsys.registry import get_version, wait_for_version
from service.main import create_app
from tests.registry.conftest import wait_until

BUCKET = "mlsys-models-dev"
runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def commands():
    if not app.registered_groups:
        _register()


@pytest.fixture(scope="module")
def model(stack) -> str:
    """v1 and v3 hold the same bytes, v2 others."""
    name = "dup-model"
    for version, data in ((1, b"the same model"), (2, b"another model"), (3, b"the same model")):
        gcs_put(data, BUCKET, f"{name}/v{version}/model.pkl")
        wait_for_version("dev", name, version)
    return name


def test_the_registry_flags_the_duplicate(model):
    assert [get_version("dev", model, v).duplicate_of for v in (1, 2, 3)] == [None, None, "v1"]
    client = TestClient(create_app())
    body = client.get(f"/models/{model}/versions/v3", params={"env": "dev"}).json()
    assert body["duplicate_of"] == "v1"
    listing = client.get("/models", params={"env": "dev", "search": model}).json()
    assert listing["models"][0]["duplicate_of"] == "v1"  # the latest version repeats v1


@pytest.mark.parametrize(
    "args",
    [["models", "show", "dup-model"], ["models", "show", "dup-model", "v3"], ["models", "list"]],
)
def test_the_cli_warns(model, args):
    result = runner.invoke(app, [*args, "--env", "dev"])
    assert result.exit_code == 0, result.output
    assert "warning: dup-model v3 has the same bytes (sha256) as v1" in " ".join(
        result.output.split()
    )
    as_json = runner.invoke(app, [*args, "--env", "dev", "--json"])
    assert "warning" not in as_json.output and json.loads(as_json.output)


def test_the_function_logs_a_warning(stack, model):
    log = Path(stack.records["function"].log)
    line = wait_until(
        lambda: [x for x in log.read_text().splitlines() if f"duplicate: {model} v3" in x]
    )
    assert "same bytes (md5" in line[0] and "as v1 of the same model" in line[0]
