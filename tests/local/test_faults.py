"""Faults on a running local stack (its own, so the session's keeps going): each component
killed with SIGKILL comes back by itself on the same endpoint, as Cloud Run starts a new
instance, and nothing registered or loaded is lost; an upload made while the function is down
is registered once it is back (the bridge retries, as Eventarc does)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pandas as pd
import psutil
import pytest
from typer.testing import CliRunner

from mlsys.bq import bq_get, bq_put
from mlsys.gcs import gcs_put
from mlsys.local import processes
from mlsys.local.stack import LocalStack, StackInfo
from mlsys.registry import get_version, wait_for_version
from mlsys.settings import get_settings, reset_settings
from tests.conftest import ROOT

COMEBACK_S = 90.0  # generous: the machine running the tests may be loaded


@pytest.fixture(scope="module")
def faulty(tmp_path_factory) -> Iterator[tuple[LocalStack, StackInfo]]:
    """A second full stack; this module's clients talk to it, then to the session's again."""
    local = LocalStack(root=ROOT, state_dir=tmp_path_factory.mktemp("faulty-stack"))
    info = local.up(owner_pid=os.getpid())
    saved = {key: os.environ.get(key) for key in info.env}
    os.environ.update(info.env)
    reset_settings()
    try:
        yield local, info
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reset_settings()
        local.down()


@pytest.fixture(scope="module")
def data(faulty):
    """A registered model and a table, made before any fault."""
    settings = get_settings()
    bucket = settings.bucket_for("dev")
    gcs_put(b"model bytes", bucket, "faults/v1/model.pkl")
    version = wait_for_version("dev", "faults", 1, timeout=60)
    table = f"{settings.dataset_ref('dev')}.faults_table"
    bq_put(pd.DataFrame({"x": [1, 2, 3]}), table, "WRITE_TRUNCATE")
    return version, table


def kill_and_wait_back(local: LocalStack, name: str) -> tuple[processes.ProcessRecord, float]:
    before = local.state().records[name]
    victim = psutil.Process(before.pid)
    victim.kill()
    start = time.monotonic()
    spec = local.state().specs[name]
    while time.monotonic() - start < COMEBACK_S:
        record = local.state().records[name]
        if record.pid != before.pid and record.is_running() and processes.probes_pass(spec.probes):
            return record, time.monotonic() - start
        time.sleep(0.2)
    raise AssertionError(f"{name} did not come back within {COMEBACK_S}s")


def still_there(data) -> None:
    version, table = data
    assert get_version("dev", "faults", 1).sha256 == version.sha256
    assert sorted(bq_get(f"SELECT x FROM `{table}`")["x"]) == [1, 2, 3]


@pytest.mark.parametrize("name", ["service", "function", "bridge", "proxy", "gcs", "bigquery"])
def test_a_killed_component_comes_back_and_nothing_is_lost(faulty, data, name):
    local, _ = faulty
    before = local.state().records[name]
    record, seconds = kill_and_wait_back(local, name)
    assert record.port == before.port  # same endpoint: local.env stays true
    assert record.restarts == before.restarts + 1 and record.last_reason.startswith("exited")
    still_there(data)
    print(f"{name} back in {seconds:.1f}s")


def test_an_upload_while_the_function_is_down_is_registered_when_it_is_back(faulty, data):
    local, _ = faulty
    before = local.state().records["function"]
    psutil.Process(before.pid).kill()
    gcs_put(b"late bytes", get_settings().bucket_for("dev"), "faults/v2/model.pkl")
    version = wait_for_version("dev", "faults", 2, timeout=COMEBACK_S)
    assert version.status == "registered"
    assert local.state().records["function"].pid != before.pid


def test_an_upload_while_the_bridge_is_down_is_registered_when_it_is_back(faulty, data):
    """fake-gcs-server's Pub/Sub client retries its publish until the bridge answers again."""
    local, _ = faulty
    before = local.state().records["bridge"]
    psutil.Process(before.pid).kill()
    gcs_put(b"bridge down", get_settings().bucket_for("dev"), "faults/v3/model.pkl")
    assert wait_for_version("dev", "faults", 3, timeout=COMEBACK_S).status == "registered"
    assert local.state().records["bridge"].pid != before.pid


def test_restart_by_hand_keeps_the_data(faulty, data):
    local, _ = faulty
    before = local.state().records["bigquery"]
    record = local.restart("bigquery")
    assert record.pid != before.pid and record.last_reason == "restarted by hand"
    still_there(data)


def test_status_shows_restarts_and_fails_on_an_unhealthy_component(faulty, monkeypatch):
    from mlsys.cli import _register, app
    from mlsys.cli import local as cli_local

    local, _ = faulty
    monkeypatch.setattr(cli_local, "_stack", lambda: local)
    _register()
    healthy = CliRunner().invoke(app, ["local", "status"])
    assert healthy.exit_code == 0, healthy.output
    assert any(item.restarts for item in local.health())  # the faults above were counted
    # A component that answers nothing: SIGSTOP keeps the process but not its answers.
    service = local.state().records["service"]
    os.kill(service.pid, 19)
    try:
        sick = CliRunner().invoke(app, ["local", "status"])
        assert sick.exit_code == 1
        assert "unhealthy" in sick.output
    finally:
        os.kill(service.pid, 18)


def test_up_on_the_running_stack_reuses_it(faulty):
    local, _ = faulty
    again = local.up()
    assert again.reused
    assert {n: r.pid for n, r in again.records.items()} == {
        n: r.pid for n, r in local.read().records.items()
    }
