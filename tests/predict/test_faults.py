"""Prediction jobs under the faults Cloud Run deals out, on the local stack with real processes.

Each case ends with exactly the input's rows in the output: every ``row_id`` once, nothing
partial, the job ``succeeded`` (docs/reliability.md tables them). What is killed is killed with
SIGKILL (no clean-up), as a lost instance is. The stack runs with ``MLSYS_JOB_LEASE_SECONDS=10``
(tests/conftest.py): a dead worker's claims are taken over after 10 s instead of 60 s.

Not here: Cloud Run itself (the local stack's stand-in, mlsys.local.runjobs, starts the
execution's task processes and retries a failed task as Cloud Run does).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from typing import Any

import httpx
import psutil
import pytest
from fastapi.testclient import TestClient
from google.api_core import exceptions as gexc

from mlsys.bq import bq_get, bq_put
from mlsys.clients import bigquery_client
from mlsys.local import processes
from mlsys.predict import PredictionRequest, get_job, submit
from mlsys.predict.claims import Claim
from mlsys.predict.cloudrun import execution_progress, run_job
from mlsys.predict.ledger import ledger
from mlsys.predict.plan import plan
from mlsys.predict.publish import _publish, publish_if_complete
from mlsys.predict.task import run_task
from service.main import create_app
from tests.conftest import ROOT
from tests.jobs.conftest import trained_forest
from tests.jobs.slow import SlowModel
from tests.predict.helpers import numeric_frame, publish

ROWS = 400
COMEBACK_S = 90.0


@pytest.fixture(scope="module")
def fault_input(stack, settings) -> str:
    frame = numeric_frame(ROWS, seed=11)
    table = f"{settings.dataset_ref('dev')}.fault_input"
    bq_put(frame, table, "WRITE_TRUNCATE")
    return table


@pytest.fixture(scope="module")
def slow(stack):
    """A forest that sleeps 0.3 s per chunk: jobs last long enough to be hit mid-way."""
    return publish(SlowModel(trained_forest(), seconds=0.3))


def body(table: str, mv: Any, out: str, **extra: Any) -> dict[str, Any]:
    return {
        "env": "dev",
        "input_table": table,
        "output_table": out,
        "model_name": mv.model_name,
        "model_version": mv.version_label,
        "chunk_rows": 40,
        **extra,
    }


def assert_exactly_the_input(out: str, job_id: str) -> None:
    """Every input row once in the output, from this job; the job says succeeded."""
    rows = bq_get(f"SELECT row_id, job_id FROM `{out}`")
    assert len(rows) == ROWS, f"{len(rows)} rows in {out}, expected {ROWS}"
    assert rows["row_id"].is_unique, "duplicate rows"
    assert sorted(rows["row_id"]) == list(range(ROWS)) and set(rows["job_id"]) == {job_id}
    record = get_job("dev", job_id)
    assert (record.status, record.rows_written) == ("succeeded", ROWS), record


def assert_nothing_left(settings, job_id: str, out: str) -> None:
    """The job's staging and claim tables are gone; the output's dataset holds only outputs."""
    ops = settings.ops_dataset_ref("dev")
    left = [t.table_id for t in bigquery_client().list_tables(ops) if job_id in t.table_id]
    assert left == [], left
    dataset = out.rsplit(".", 1)[0]
    names = [t.table_id for t in bigquery_client().list_tables(dataset)]
    assert not [n for n in names if job_id in n], names  # only outputs (named by the caller)


def wait_for(check, timeout: float = 300.0, every: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(every)
    return found


def finished(job_id: str):
    def check():
        record = get_job("dev", job_id)
        return record if record.status in ("succeeded", "failed") else None

    return check


def kill_and_wait_back(local_stack, name: str) -> None:
    before = local_stack.state().records[name]
    psutil.Process(before.pid).kill()
    spec = local_stack.state().specs[name]

    def back():
        record = local_stack.state().records[name]
        return (
            record.pid != before.pid and record.is_running() and processes.probes_pass(spec.probes)
        )

    wait_for(back, timeout=COMEBACK_S, every=0.2)


def test_service_killed_in_the_middle_of_an_async_job(
    local_stack, settings, fault_input, slow, dev_outputs, unique
):
    """async runs as a Cloud Run Job execution: the service answers 202 and holds nothing, so
    killing it (a scale-down, a redeploy) loses nothing."""
    out = f"{dev_outputs}.fault_async_{unique}"
    job_id = f"async-{unique}"
    with httpx.Client(base_url=settings.service_url, timeout=120) as service:
        started = service.post(
            "/predict", json=body(fault_input, slow, out, job_id=job_id) | {"async": True}
        )
    assert started.status_code == 202, started.text
    assert started.json()["execution"], started.json()
    assert get_job("dev", job_id).status in ("queued", "running")
    kill_and_wait_back(local_stack, "service")  # the job goes on, in its task process
    wait_for(finished(job_id))
    assert_exactly_the_input(out, job_id)
    assert_nothing_left(settings, job_id, out)


def test_two_concurrent_requests_with_one_new_job_id(
    settings, fault_input, slow, dev_outputs, unique
):
    """Two instances (the stack's service and this process's app) get the same new job id at
    once: exactly one writes; the other answers 409 JOB_CONFLICT naming the running job, or
    the finished record if it came after."""
    out = f"{dev_outputs}.fault_twice_{unique}"
    job_id = f"twice-{unique}"
    request = body(fault_input, slow, out, job_id=job_id)
    answers: dict[str, httpx.Response] = {}
    gate = threading.Barrier(2)

    def via_service() -> None:
        with httpx.Client(base_url=settings.service_url, timeout=300) as service:
            gate.wait()
            answers["service"] = service.post("/predict", json=request)

    def via_app() -> None:
        client = TestClient(create_app())
        gate.wait()
        answers["app"] = client.post("/predict", json=request)

    threads = [threading.Thread(target=via_service), threading.Thread(target=via_app)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    statuses = sorted(a.status_code for a in answers.values())
    assert statuses in ([200, 200], [200, 409]), {k: a.text for k, a in answers.items()}
    for answer in answers.values():
        if answer.status_code == 409:
            assert answer.json()["error"] == "JOB_CONFLICT" and job_id in answer.json()["message"]
        else:
            assert answer.json()["rows_written"] == ROWS
    assert_exactly_the_input(out, job_id)
    assert_nothing_left(settings, job_id, out)


def test_a_sharded_job_relaunched_while_it_runs(settings, fault_input, slow, dev_outputs, unique):
    """A second submission returns the job (no second execution); a second execution started
    anyway (an operator, a scheduler retry going straight to the Jobs API) finds every shard
    held or staged, and the job publishes once."""
    out = f"{dev_outputs}.fault_relaunch_{unique}"
    job_id = f"relaunch-{unique}"
    request = PredictionRequest.parse(
        body(fault_input, slow, out, job_id=job_id, engine="job", tasks=2, chunk_rows=20)
    )
    first = submit(request).record
    assert first.execution
    wait_for(lambda: get_job("dev", job_id).status in ("running", "succeeded"), every=0.2)
    again = submit(request).record
    assert again.execution == first.execution  # the same job, not a second execution
    second = run_job(ledger("dev").plan(job_id))  # a second execution, while the first runs
    for execution in (first.execution, second):
        wait_for(lambda e=execution: execution_progress("dev", e)["done"], timeout=600)
    assert execution_progress("dev", second)["failed"] == 0
    assert_exactly_the_input(out, job_id)
    assert len(ledger("dev").rows(job_id, "publish")) == 1
    assert_nothing_left(settings, job_id, out)


def test_a_publisher_killed_after_taking_its_claim(
    settings, fault_input, slow, dev_outputs, unique
):
    """A process takes the job's publish claim and is killed: the last task waits out the
    claim's lease, takes it over (the next epoch) and publishes once."""
    out = f"{dev_outputs}.fault_publisher_{unique}"
    job_id = f"publisher-{unique}"
    request = PredictionRequest.parse(
        body(fault_input, slow, out, job_id=job_id, engine="job", tasks=2)
    )
    job = plan(request).plan
    from mlsys.predict.engines import enqueue

    enqueue(job)
    assert run_task("dev", job_id, index=0, count=2) is None
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_PUBLISH, job_id],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    holder.kill()  # SIGKILL right after it took the claim
    holder.wait()
    started = time.monotonic()
    assert run_task("dev", job_id, index=1, count=2) == ROWS  # staged, took over, published
    assert time.monotonic() - started < 10 + 120
    assert Claim("dev", job_id, "publish").current() is None  # claims dropped after publish
    assert_exactly_the_input(out, job_id)
    assert_nothing_left(settings, job_id, out)


HOLD_PUBLISH = """
import sys, time
from mlsys.predict.claims import Claim
claim = Claim("dev", sys.argv[1], "publish")
claim.acquire()
claim.start_heartbeat()
print("held", flush=True)
time.sleep(600)
"""


def test_a_publish_that_ran_but_was_never_recorded_is_adopted(
    settings, fault_input, dev_outputs, unique, monkeypatch
):
    """The worst moment: the publisher's INSERT ran (BigQuery job ``mlsys-publish-J-e1``), then
    it died before recording it. Its successor settles epoch 1 first: it finds that job done
    and adopts it instead of inserting again."""
    monkeypatch.setenv("MLSYS_JOB_LEASE_SECONDS", "3")
    from mlsys.settings import get_settings

    get_settings.cache_clear()
    forest = publish(trained_forest())
    out = f"{dev_outputs}.fault_adopt_{unique}"
    job_id = f"adopt-{unique}"
    request = PredictionRequest.parse(
        body(fault_input, forest, out, job_id=job_id, engine="job", tasks=1)
    )
    job = plan(request).plan
    from mlsys.predict.engines import enqueue
    from mlsys.predict.shard import prepare, stage_shard

    enqueue(job)
    stage_shard(prepare(job), 0)
    staged = ledger("dev").staged(job_id)
    stale = Claim("dev", job_id, "publish")
    stale.acquire()
    rows = _publish(job, [staged[0]], stale)  # the INSERT runs under epoch 1...
    assert rows == ROWS
    assert ledger("dev").published(job_id) is None  # ...and is never recorded: it "died"
    try:
        bigquery_client().get_job(f"mlsys-publish-{job_id}-e1")
    except gexc.NotFound:
        pytest.fail("the emulator keeps no job by id: the adoption below cannot be checked")
    time.sleep(4)  # its lease runs out
    assert publish_if_complete(job, wait=True) == ROWS  # epoch 2 adopts epoch 1's publish
    rows_now = bq_get(f"SELECT row_id FROM `{out}`")
    assert len(rows_now) == ROWS and rows_now["row_id"].is_unique
    assert get_job("dev", job_id).status == "succeeded"
    get_settings.cache_clear()


def test_a_failed_job_leaves_no_table_behind(settings, fault_input, dev_outputs, unique):
    from tests.predict.flaky import FailsOnSecondChunk

    flaky = publish(FailsOnSecondChunk(trained_forest()))
    out = f"{dev_outputs}.fault_failed_{unique}"
    job_id = f"failed-{unique}"
    with httpx.Client(base_url=settings.service_url, timeout=120) as service:
        answer = service.post("/predict", json=body(fault_input, flaky, out, job_id=job_id))
    # The model raises RuntimeError("worker lost half-way"): a crash, not a user error (500).
    assert answer.status_code == 500 and answer.json()["error"] == "INTERNAL", answer.text
    with pytest.raises(gexc.NotFound):  # the output is created at publish only
        bigquery_client().get_table(out)
    assert_nothing_left(settings, job_id, out)
    assert get_job("dev", job_id).status == "failed"


def test_every_auxiliary_table_is_created_with_an_expiry(settings, unique):
    """Claim and staging tables are created with an expiry, in case no drop ever comes (the
    worker died and nobody retried). The emulator does not keep ``expirationTime`` (its table
    metadata has no such field), so what is checked is what the code SENDS: the real client's
    requests are recorded on their way to the emulator (a spy, nothing is answered for it)."""
    from mlsys.predict.staging import StagingWriter, drop_table, stage_table

    client = bigquery_client("dev")
    sent: list[dict[str, Any]] = []
    original = client._connection.api_request

    def recording(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("method") == "POST" and str(kwargs.get("path", "")).endswith("/tables"):
            sent.append(kwargs.get("data") or {})
        return original(*args, **kwargs)

    job_id = f"expiry-{unique}"
    client._connection.api_request = recording
    try:
        claim = Claim("dev", job_id, "task0")
        claim.acquire()
        table = stage_table("dev", job_id, 0, claim.epoch)
        StagingWriter("dev", table).open(numeric_frame(1).pipe(_arrow_schema))
    finally:
        client._connection.api_request = original
    created = {body["tableReference"]["tableId"]: body for body in sent}
    assert set(created) == {f"claim__{job_id}__task0__e1", table.rsplit(".", 1)[1]}, created
    now_ms = time.time() * 1000
    for name, body in created.items():
        assert "expirationTime" in body, name
        assert int(body["expirationTime"]) > now_ms + 24 * 3600 * 1000, name  # a day or more
    claim.release()
    drop_table("dev", table)
    ops = settings.ops_dataset_ref("dev")
    assert [t for t in bigquery_client().list_tables(ops) if job_id in t.table_id] == []


def _arrow_schema(frame: Any) -> Any:
    import pyarrow as pa

    return pa.Schema.from_pandas(frame, preserve_index=False)
