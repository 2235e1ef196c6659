"""`mlsys promote|rollback|archive`, `mlsys models history` and GET /models/{name}/history."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from mlsys.cli import _register, app
from tests.promote.helpers import upload

runner = CliRunner()
NAME = "promo-cli"


@pytest.fixture(scope="module", autouse=True)
def commands():
    if "promote" not in {c.name for c in app.registered_commands}:
        _register()


@pytest.fixture(scope="module")
def config_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("promotion") / "promotion.yaml"
    path.write_text(yaml.safe_dump({NAME: {"metrics": {"accuracy": ">= 0.8"}, "sample_rows": 20}}))
    return str(path)


@pytest.fixture(scope="module")
def versions(stack, training_table, model_bytes, features):
    meta = {"features": features, "target": "Survived", "training_data": training_table}
    upload(model_bytes, NAME, 1, metadata={**meta, "metrics": {"accuracy": 0.85}})
    upload(model_bytes, NAME, 2, metadata={**meta, "metrics": {"accuracy": 0.75}})
    return NAME


def _promote(*args: str):
    return runner.invoke(app, ["promote", *args])


def test_dry_run_shows_every_gate_and_copies_nothing(versions, config_file):
    result = _promote(
        NAME, "v1", "--from", "dev", "--to", "staging", "--dry-run", "--config", config_file
    )
    assert result.exit_code == 0, result.output
    for gate in ("registered", "metadata", "metrics", "schema", "smoke"):
        assert gate in result.output
    assert "FAIL" not in result.output and "would be promoted" in result.output


@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]])
def test_failed_gate_exits_non_zero_with_the_table(versions, config_file, dry_run):
    args = [NAME, "2", "--from", "dev", "--to", "staging", "--config", config_file, *dry_run]
    result = _promote(*args)
    assert result.exit_code != 0
    assert "FAIL" in result.output and "accuracy 0.75 FAILS accuracy >= 0.8" in result.output
    assert type(result.exception).__name__ == "PromotionGateFailed"
    assert ("would be refused" in str(result.exception)) == bool(dry_run)


def test_promote_twice_then_history_and_archive(versions, config_file):
    args = [NAME, "1", "--from", "dev", "--to", "staging", "--config", config_file]
    first = _promote(*args)
    assert first.exit_code == 0, first.output
    assert "promoted" in first.output and "champion of staging" in first.output
    second = _promote(*args)
    assert second.exit_code == 0 and "nothing to do" in second.output

    history = runner.invoke(app, ["models", "history", NAME, "--json"])
    assert history.exit_code == 0, history.output
    body = json.loads(history.output)
    actions = [(e["environment"], e["action"]) for e in body["audit"]]
    assert actions[-3:] == [("staging", "register"), ("staging", "promote"), ("staging", "alias")]
    assert actions.count(("staging", "promotion_refused")) == 1  # dry runs are not audited
    assert {s["version_label"]: s["stage"] for s in body["stages"]} == {
        "v1": "staging",
        "v2": "draft",
    }

    table = runner.invoke(app, ["models", "history", NAME, "--env", "staging"])
    assert table.exit_code == 0 and "promote" in table.output and "register" in table.output

    archived = runner.invoke(app, ["archive", NAME, "v2", "--env", "dev"])
    assert archived.exit_code == 0 and "archived v2" in archived.output


def test_rollback_without_previous_exits_2_with_a_message(versions):
    # Through the console entry point, which turns mlsys errors into exit code 2.
    result = subprocess.run(
        [sys.executable, "-m", "mlsys", "rollback", NAME, "--env", "prod"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "ROLLBACK_UNAVAILABLE" in result.stderr and "no champion" in result.stderr


def test_history_over_http(versions):
    from service.main import create_app

    client = TestClient(create_app())
    response = client.get(f"/models/{NAME}/history", params={"env": "dev"})
    assert response.status_code == 200, response.text
    assert {e["action"] for e in response.json()["audit"]} >= {"register"}
    missing = client.get("/models/promo-never-seen/history")
    assert missing.status_code == 404 and missing.json()["error"] == "MODEL_NOT_FOUND"
