"""schedules.yaml: validation with the library's rules, per-env filtering, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mlsys.errors import ConfigError
from mlsys.schedules import load_schedules, parse_schedules, schedules_for
from tests.conftest import ROOT

GOOD = {
    "name": "nightly",
    "envs": ["dev", "prod"],
    "cron": "0 3 * * *",
    "model": "titanic-survival",
    "version": "champion",
    "input_table": "mlsys_inputs.passengers",
    "output_table": "my-project.mlsys_predictions.survival",
}


def test_repository_schedules_are_valid() -> None:
    schedules = load_schedules(ROOT / "schedules.yaml")
    assert schedules and all(s.envs for s in schedules)


def test_schedules_are_filtered_by_environment() -> None:
    other = {**GOOD, "name": "hourly", "envs": ["staging"], "cron": "5 * * * *", "version": 3}
    schedules = parse_schedules({"schedules": [GOOD, other]})
    assert [s.name for s in schedules_for("prod", schedules)] == ["nightly"]
    assert [s.name for s in schedules_for("staging", schedules)] == ["hourly"]
    assert schedules[1].version == "3"
    assert schedules[0].job_name("prod") == "mlsys-prod-nightly"
    body = schedules[0].request("dev")
    # Always a job execution (durable: nothing runs in the service after its answer), its job
    # id derived from the schedule's name and fire time by the service.
    assert (body["model_version"], body["engine"], body["tasks"]) == ("champion", "job", 1)
    assert body["schedule"] == "nightly" and "job_id" not in body
    sharded = parse_schedules({"schedules": [{**GOOD, "tasks": 8}]})[0].request("prod")
    assert (sharded["engine"], sharded["tasks"]) == ("job", 8)


def test_env_placeholder_names_each_envs_own_tables() -> None:
    templated = {
        **GOOD,
        "input_table": "mlsys_{env}.x",
        "output_table": "mlsys_predictions_{env}.y",
    }
    (schedule,) = parse_schedules({"schedules": [templated]})
    assert schedule.request("prod")["output_table"] == "mlsys_predictions_prod.y"
    assert schedule.request("dev")["input_table"] == "mlsys_dev.x"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "Nightly!"}, "name"),
        ({"envs": ["qa"]}, "envs"),
        ({"envs": []}, "envs"),
        ({"cron": "every night"}, "cron"),
        ({"cron": "0 3 * *"}, "cron"),
        ({"model": "Titanic_Survival"}, "model"),
        ({"version": "v0"}, "version"),
        ({"input_table": "passengers; DROP TABLE x"}, "input_table"),
        ({"output_table": "a.b.c.d"}, "output_table"),
        ({"extra": "field"}, "extra"),
        ({"tasks": 0}, "tasks"),
    ],
)
def test_bad_schedules_are_rejected_naming_the_field(change: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_schedules({"schedules": [{**GOOD, **change}]})


def test_duplicate_names_and_bad_files_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unique"):
        parse_schedules({"schedules": [GOOD, GOOD]})
    with pytest.raises(ConfigError, match="top-level"):
        parse_schedules([GOOD])
    with pytest.raises(ConfigError, match="does not exist"):
        load_schedules(tmp_path / "missing.yaml")


def test_cli_lists_schedules(tmp_path: Path) -> None:
    from mlsys.cli import _register, app

    path = tmp_path / "schedules.yaml"
    path.write_text(yaml.safe_dump({"schedules": [GOOD]}))
    _register()
    runner = CliRunner()
    result = runner.invoke(app, ["schedules", "list", "--file", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert [s["name"] for s in json.loads(result.output)] == ["nightly"]
    result = runner.invoke(app, ["schedules", "list", "--file", str(path), "--env", "staging"])
    assert result.exit_code == 0 and "nightly" not in result.output
