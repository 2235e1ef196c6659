"""The local stack's lifecycle with real processes (a separate, smaller stack per test)."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import psutil
import pytest

from mlsys.errors import LocalStackError
from mlsys.local.stack import LocalStack
from tests.conftest import ROOT


def test_session_stack_exports_every_endpoint(stack):
    for key in (
        "GCP_PROJECT_ID",
        "STORAGE_EMULATOR_HOST",
        "BIGQUERY_EMULATOR_HOST",
        "BIGQUERY_STORAGE_EMULATOR_HOST",
        "MLSYS_FUNCTION_URL",
        "MLSYS_SERVICE_URL",
    ):
        assert stack.env[key]
    assert httpx.get(f"{stack.env['MLSYS_SERVICE_URL']}/health").json() == {"status": "ok"}
    assert stack.startup_seconds > 0
    # Clients see the enforcing proxy, never the emulators themselves.
    direct = stack.extra["direct"]
    for key in (
        "STORAGE_EMULATOR_HOST",
        "BIGQUERY_EMULATOR_HOST",
        "BIGQUERY_STORAGE_EMULATOR_HOST",
    ):
        assert stack.env[key] != direct[key]
        assert stack.records["proxy"].port == int(
            stack.env["STORAGE_EMULATOR_HOST"].rsplit(":", 1)[1]
        )


def test_components_run_as_their_own_identity(stack):
    identities = {
        name: psutil.Process(stack.records[name].pid).environ().get("MLSYS_LOCAL_IDENTITY")
        for name in ("function", "service", "gcs", "bigquery", "proxy", "bridge")
    }
    assert identities == {
        "function": "function",
        "service": "service",
        "gcs": None,
        "bigquery": None,
        "proxy": None,
        "bridge": None,
    }


def test_session_stack_has_a_project_per_environment(stack, settings):
    from mlsys.clients import bigquery_client, storage_client

    assert stack.env["GCP_PROJECT_ID"] == stack.env["GCP_PROJECT_ID_DEV"] == "mlsys-local-dev"
    projects = {env: settings.project_for(env) for env in ("dev", "staging", "prod")}
    assert len(set(projects.values())) == 3
    buckets = {b.name for b in storage_client().list_buckets()}
    for env, project in projects.items():
        assert f"mlsys-models-{env}" in buckets
        datasets = {d.dataset_id for d in bigquery_client(env).list_datasets(project=project)}
        # registry, job bookkeeping (writable by the service) and outputs, each in its project
        assert {f"mlsys_{env}", f"mlsys_ops_{env}", f"mlsys_predictions_{env}"} <= datasets
        others = {p for e, p in projects.items() if e != env}
        for other in others:
            listed = {d.dataset_id for d in bigquery_client(env).list_datasets(project=other)}
            assert f"mlsys_{env}" not in listed
    # Unversioned locally on purpose: see mlsys.provision.ensure_bucket.
    assert not storage_client().get_bucket("mlsys-models-dev").versioning_enabled


def test_up_twice_reuses_the_stack_then_down_leaves_nothing(tmp_path):
    local = LocalStack(root=ROOT, state_dir=tmp_path)
    info = local.up(components=("gcs",))
    try:
        env_text = (tmp_path / "local.env").read_text()
        assert f"STORAGE_EMULATOR_HOST={info.env['STORAGE_EMULATOR_HOST']}" in env_text
        assert local.status() == {"gcs": True, "supervisor": True}
        again = local.up(components=("gcs",))
        assert again.reused and not info.reused
        assert again.records["gcs"].pid == info.records["gcs"].pid  # untouched
    finally:
        stopped = local.down()
    assert sorted(stopped) == ["gcs", "supervisor"]
    assert not info.records["gcs"].is_running()
    assert not info.records["supervisor"].is_running()
    assert not (tmp_path / "local.env").exists()
    assert not (tmp_path / "data").exists()
    assert local.status() == {}


def test_failed_start_is_reported_with_log_tail(tmp_path, monkeypatch):
    # A real child process that fails at start, standing in for a broken emulator install.
    local = LocalStack(root=ROOT, state_dir=tmp_path)
    original = local._specs

    def broken_specs(ports, env):
        specs = original(ports, env)
        crash = "import sys; print('port already taken: boom'); sys.exit(3)"
        specs["gcs"].command = [sys.executable, "-c", crash]
        return specs

    monkeypatch.setattr(local, "_specs", broken_specs)
    with pytest.raises(LocalStackError, match=r"gcs exited during start-up(.|\n)*boom"):
        local.up(components=("gcs",))
    assert not (tmp_path / "state.json").exists()


def test_supervisor_stops_the_stack_when_its_owner_dies(tmp_path):
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    local = LocalStack(root=ROOT, state_dir=tmp_path)
    info = local.up(components=("gcs",), owner_pid=owner.pid)
    assert local.status() == {"gcs": True, "supervisor": True}
    owner.kill()
    owner.wait()
    deadline = time.monotonic() + 30
    while (tmp_path / "state.json").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not info.records["gcs"].is_running()
    assert not (tmp_path / "state.json").exists()


def test_up_after_the_supervisor_died_starts_only_what_is_dead(tmp_path):
    local = LocalStack(root=ROOT, state_dir=tmp_path)
    info = local.up(components=("gcs",))
    try:
        psutil.Process(info.records["supervisor"].pid).kill()
        psutil.Process(info.records["supervisor"].pid).wait(10)
        again = local.up()
        assert again.reused
        assert again.records["gcs"].pid == info.records["gcs"].pid  # adopted, data kept
        assert again.records["supervisor"].pid != info.records["supervisor"].pid
        assert local.is_running()
    finally:
        local.down()


def test_stale_state_is_cleaned_on_up(tmp_path):
    local = LocalStack(root=ROOT, state_dir=tmp_path)
    info = local.up(components=("gcs",))
    for name in ("supervisor", "gcs"):  # everything died, e.g. with the machine
        psutil.Process(info.records[name].pid).kill()
        psutil.Process(info.records[name].pid).wait(10)
    assert local.status() == {"gcs": False, "supervisor": False}
    fresh = local.up(components=("gcs",))
    try:
        assert not fresh.reused and fresh.records["gcs"].is_running()
    finally:
        local.down()
