"""The `mlsys` command line as a user meets it: start-up, consistency, reads through the
service, and one line (not a traceback) when credentials or the stack are missing.

The commands run as real processes (the console script) where imports or the exit matter."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from mlsys.cli import _register, app
from mlsys.errors import UploadRejected
from mlsys.gcs import gcs_put, gcs_put_pickle
from mlsys.registry import wait_for_version

MLSYS = str(Path(sys.executable).parent / "mlsys")
runner = CliRunner()

if "promote" not in {c.name for c in app.registered_commands}:
    _register()


def _commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group (Typer ships its own click)
            found += _commands(command, (*path, name))
        else:
            found.append((*path, name))
    return found


ROOT_COMMAND: Any = typer.main.get_command(app)
COMMANDS = _commands(ROOT_COMMAND)


def _command(path: tuple[str, ...]) -> Any:
    command = ROOT_COMMAND
    for name in path:
        command = command.commands[name]
    return command


def _imported(*args: str, env: dict[str, str] | None = None) -> tuple[set[str], str]:
    """The modules `mlsys ARGS` imports (from -X importtime), and its stdout."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", MLSYS, *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    names = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)", done.stderr, re.M)
    return set(names), done.stdout


#: Neither help nor the read commands' start-up may import a Google client, pydantic or the
#: settings (pydantic-settings): each costs a visible part of a second (bench/cli.py). Typer is
#: held below 0.29, which coerces every option through pydantic.
LIGHT = ("google", "pydantic", "pydantic_settings", "mlsys.settings")


@pytest.mark.parametrize(
    ("args", "heavy"),
    [
        (["--help"], LIGHT),
        (["-h"], LIGHT),
        (["--version"], LIGHT),
        (["models", "list", "-h"], LIGHT),
        (["predict", "--help"], LIGHT),
    ],
)
def test_help_and_version_import_no_google_client_or_settings(args, heavy):
    modules, out = _imported(*args)
    assert out.strip()
    assert "typer" in modules  # the parse worked: the list is real
    assert sorted(m for m in modules if m.split(".")[0] in heavy or m in heavy) == []


def test_version_prints_the_package_version():
    done = subprocess.run([MLSYS, "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == f"mlsys {version('mlsys')}"


def test_the_command_tree_is_complete():
    assert {("models", "list"), ("predict",), ("local", "token"), ("monitor",)} <= set(COMMANDS)


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_takes_h_and_shows_an_example(path):
    result = runner.invoke(app, [*path, "-h"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert f"Example: mlsys {' '.join(path)}" in result.output


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_env_option_is_spelled_e_and_env(path):
    for param in _command(path).params:
        if param.name == "env":
            assert set(param.opts) == {"-e", "--env"}, (path, param.opts)


#: Commands that list or report something a script may want to read: each takes --json.
LISTINGS = [
    ("models", "list"),
    ("models", "show"),
    ("models", "history"),
    ("registry", "sync"),
    ("schedules", "list"),
    ("local", "status"),
    ("monitor",),
    ("promote",),
]


def _printed_json(output: str) -> Any:
    """The JSON document a --json command printed (rich prints it from a line of its own): log
    lines other tests' logging set-up may route to the captured stdout are not part of it."""
    start = 0 if output.startswith(("{\n", "[\n")) else output.index("\n{\n") + 1
    return json.JSONDecoder().raw_decode(output[start:])[0]


@pytest.mark.parametrize("path", LISTINGS, ids=" ".join)
def test_every_listing_command_takes_json(path):
    assert any("--json" in param.opts for param in _command(path).params), path


def test_local_status_json_says_running_and_each_component(local_stack, monkeypatch):
    from mlsys.cli import local as local_cli

    # the session's stack lives in a temporary folder, not in this checkout's `.mlsys`
    monkeypatch.setattr(local_cli, "_stack", lambda: local_stack)
    done = runner.invoke(app, ["local", "status", "--json"], terminal_width=80)
    assert done.exit_code == 0, done.output
    found = _printed_json(done.stdout)
    assert found["running"] and found["healthy"]
    names = {c["name"] for c in found["components"]}
    assert {"gcs", "bigquery", "proxy", "function", "service"} <= names
    assert all(c["healthy"] and c["pid"] > 0 for c in found["components"])
    assert found["env"]["GCP_PROJECT_ID_DEV"]


def test_registry_sync_json_counts_what_it_scanned(registered):
    done = runner.invoke(app, ["registry", "sync", "-e", "dev", "--json"], terminal_width=80)
    assert done.exit_code == 0, done.output
    report = _printed_json(done.stdout)
    assert report["env"] == "dev" and report["bucket"] == "mlsys-models-dev"
    assert report["scanned"] >= 3 and report["already_recorded"] >= 2  # v1 and its metadata


def test_promote_json_lists_every_gate_also_when_refused(registered):
    # the test model has no test_accuracy: the metrics gate refuses it, and the JSON says so
    done = runner.invoke(
        app,
        ["promote", registered, "v1", "--from", "dev", "--to", "staging", "--dry-run", "--json"],
        terminal_width=80,
    )
    assert done.exit_code != 0
    found = _printed_json(done.stdout)
    assert found["outcome"] == "refused" and found["model_name"] == registered
    statuses = {g["gate"]: g["status"] for g in found["gates"]}
    assert statuses["registered"] == "pass" and "fail" in statuses.values(), statuses


@pytest.fixture(scope="module")
def registered(stack, unique):
    """A model with a version and a refused upload, in dev."""
    from sklearn.linear_model import LogisticRegression

    name = f"cli-{unique}"
    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    gcs_put(
        json.dumps({"description": "cli reads", "tags": ["cli-reads"]}),
        "mlsys-models-dev",
        f"{name}/v1/metadata.json",
    )
    gcs_put_pickle(model, "mlsys-models-dev", f"{name}/v1/model.pkl")
    wait_for_version("dev", name, 1)
    gcs_put(b"x", "mlsys-models-dev", f"{name}-bad/v1/model.pickle")
    with pytest.raises(UploadRejected, match="rejected"):
        wait_for_version("dev", f"{name}-bad", 1, timeout=30)
    return name


@pytest.fixture(scope="module")
def unique():
    import uuid

    return uuid.uuid4().hex[:8]


@pytest.mark.parametrize(
    "args",
    [
        ["models", "list", "--search", "{name}", "--json"],
        ["models", "list", "--search", "{name}"],
        ["models", "list", "--rejected", "--search", "{name}-bad", "--json"],
        ["models", "list", "--rejected", "--search", "{name}-bad"],
        ["models", "show", "{name}", "--json"],
        ["models", "show", "{name}"],
    ],
    ids=" ".join,
)
def test_reads_through_the_service_print_what_direct_prints(registered, args):
    args = [a.format(name=registered) for a in args]
    env = {**os.environ, "COLUMNS": "200"}
    modules, through_service = _imported(*args, env=env)
    assert sorted(m for m in modules if m.split(".")[0] in LIGHT or m in LIGHT) == []
    direct = subprocess.run(
        [MLSYS, *args, "--direct"], capture_output=True, text=True, env=env, check=True
    ).stdout
    assert registered in through_service
    assert through_service == direct


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bare_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """No stack, no credentials: what a new user's shell has (HOME without gcloud's ADC)."""
    prefixes = ("STORAGE_", "BIGQUERY_", "MLSYS_", "GCP_", "GOOGLE_", "CLOUDSDK_", "GCE_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    # No metadata server here: say so, rather than wait for google-auth's probe to time out.
    return {**env, "HOME": str(tmp_path), "NO_GCE_CHECK": "True", "COLUMNS": "80", **extra}


#: `.mlsys/local.env` of a stack that died without `mlsys local down`: its ports refuse.
STOPPED_STACK = {
    "STORAGE_EMULATOR_HOST": "http://127.0.0.1:{port}",
    "BIGQUERY_EMULATOR_HOST": "http://127.0.0.1:{port}",
    "BIGQUERY_STORAGE_EMULATOR_HOST": "127.0.0.1:{port}",
}


@pytest.mark.parametrize(
    ("args", "extra", "fix"),
    [
        (["models", "list"], {"MLSYS_SERVICE_URL": "http://127.0.0.1:{port}"}, "mlsys local up"),
        (
            ["models", "list", "--rejected"],
            {"MLSYS_SERVICE_URL": "http://127.0.0.1:{port}"},
            "mlsys local up",
        ),
        (["models", "list"], {}, "gcloud auth application-default login"),
        (["models", "show", "iris", "v1"], {}, "gcloud auth application-default login"),
        (["models", "show", "iris", "v1"], STOPPED_STACK, "mlsys local up"),
        (
            ["predict", "--model", "iris", "--input", "p.d.i", "--output", "p.d.o"],
            STOPPED_STACK,
            "mlsys local up",
        ),
    ],
    ids=[
        "unreachable-service",
        "unreachable-rejections",
        "no-credentials",
        "show-no-credentials",
        "show-stopped-stack",
        "predict-stopped-stack",
    ],
)
def test_a_failure_is_one_line_naming_the_fix(tmp_path, args, extra, fix):
    port = _closed_port()
    env = _bare_env(tmp_path, **{k: v.format(port=port) for k, v in extra.items()})
    done = subprocess.run(
        [MLSYS, *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and fix in lines[0], done.stderr
    assert "Traceback" not in done.stderr

    debug = subprocess.run(
        [MLSYS, "--debug", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_the_cli_names_engines_as_the_api_does():
    option = next(p for p in _command(("predict",)).params if p.name == "engine")
    assert option.default == "service"
    args = ["predict", "--input", "p.d.a", "--output", "p.d.b", "--model", "m", "-e", "dev"]
    done = runner.invoke(app, [*args, "--engine", "local-ish"])
    assert done.exit_code != 0
    assert "engine 'local-ish': expected service or job" in str(done.exception)
