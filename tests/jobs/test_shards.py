"""Sharded prediction: N task processes (``python -m mlsys.predict.task`` with the Cloud Run
task variables) against the emulator stack give exactly the rows of one single-process run.

Cloud Run itself is not here: the tests start the task processes the way Cloud Run does (same
module, same environment variables, one process per task) and play its retry by rerunning a
killed task (the local stack's Cloud Run stand-in runs them too: tests/jobs/test_launcher.py).
"""

from __future__ import annotations

import dataclasses
import time

import pandas as pd
import pytest
from google.api_core import exceptions as gexc

from mlsys.bq import bq_get
from mlsys.clients import bigquery_client
from mlsys.errors import ConfigError, InvalidInput, JobConflict
from mlsys.identifiers import parse_table_id
from mlsys.predict import PredictionRequest, get_job, run_prediction
from mlsys.predict.claims import Claim
from mlsys.predict.engines import enqueue
from mlsys.predict.ledger import ledger
from mlsys.predict.plan import plan
from mlsys.predict.publish import publish_if_complete
from mlsys.predict.sources import open_read_session
from mlsys.predict.task import run_task
from tests.jobs.conftest import ROWS, TASK_LEASE_S, run_tasks, start_task, trained_forest
from tests.jobs.slow import SlowModel
from tests.predict.helpers import publish

KEY = ["row_id", "prediction", "probability"]


def _rows(table: str) -> pd.DataFrame:
    return bq_get(f"SELECT * FROM `{table}` ORDER BY row_id").reset_index(drop=True)


def _single_run(shard_input: str, mv, out: str) -> pd.DataFrame:
    run_prediction(
        env="dev",
        input_table=shard_input,
        output_table=out,
        model_name=mv.model_name,
        model_version=mv.version_label,
    )
    return _rows(out)


def _assert_same_rows(sharded: pd.DataFrame, single: pd.DataFrame, job_id: str) -> None:
    assert len(sharded) == ROWS and sharded["row_id"].is_unique, "duplicate or missing rows"
    assert sorted(sharded["row_id"]) == list(range(ROWS))
    pd.testing.assert_frame_equal(sharded[KEY], single[KEY], check_dtype=False)
    assert set(sharded["job_id"]) == {job_id}
    assert sharded["prediction_timestamp"].nunique() == 1  # one job, one timestamp


def _submit(shard_input: str, mv, out: str, job_id: str, tasks: int, **kw):
    """Plan and record a job as the job engine does, without starting an execution: the test
    starts the task processes itself."""
    request = PredictionRequest.parse(
        {
            "env": "dev",
            "input_table": shard_input,
            "output_table": out,
            "model_name": mv.model_name,
            "model_version": mv.version_label,
            "engine": "job",
            "tasks": tasks,
            "job_id": job_id,
            **kw,
        }
    )
    planned = plan(request).plan
    enqueue(planned)
    return planned


def _job_tables(settings, job_id: str) -> list[str]:
    ops = settings.ops_dataset_ref("dev")
    prefixes = (f"stage__{job_id}__", f"claim__{job_id}__")
    return [
        t.table_id for t in bigquery_client().list_tables(ops) if t.table_id.startswith(prefixes)
    ]


@pytest.mark.parametrize("tasks", [1, 3])
def test_union_of_task_processes_equals_a_single_run(
    shard_input, forest, dev_outputs, unique, settings, tasks
):
    single = _single_run(shard_input, forest, f"{dev_outputs}.single_{unique}")
    out = f"{dev_outputs}.sharded_{unique}"
    job_id = f"shard-{unique}"
    job = _submit(shard_input, forest, out, job_id, tasks, chunk_rows=64)
    # The emulator answers every read session with one stream: the hash split is used.
    assert job.split == "hash" or tasks == 1
    run_tasks(job_id, tasks)
    _assert_same_rows(_rows(out), single, job_id)
    record = get_job("dev", job_id)
    assert (record.status, record.rows_written, record.rows_done) == ("succeeded", ROWS, ROWS)
    assert _job_tables(settings, job_id) == []  # staging and claim tables dropped after publish


def test_killed_task_rerun_gives_exactly_the_same_rows(shard_input, dev_outputs, unique, settings):
    slow = publish(SlowModel(trained_forest(), seconds=0.4))
    single = _single_run(shard_input, slow, f"{dev_outputs}.single_{unique}")
    out = f"{dev_outputs}.killed_{unique}"
    job_id = f"kill-{unique}"
    _submit(shard_input, slow, out, job_id, 3, chunk_rows=40)
    victim = start_task(job_id, 1, 3)
    claim = Claim("dev", job_id, "task1")
    deadline = time.monotonic() + 120
    while (held := claim.current()) is None:  # wait until it holds its shard and streams
        assert victim.poll() is None, victim.communicate()[0]
        assert time.monotonic() < deadline, "task 1 never took its shard"
        time.sleep(0.2)
    time.sleep(1.0)  # a few slow chunks scored
    victim.kill()  # SIGKILL: no clean-up at all, like a lost instance
    victim.wait()
    run_tasks(job_id, 3, [0, 2])
    assert 1 not in ledger("dev").staged(job_id)  # the killed attempt recorded nothing...
    with pytest.raises(gexc.NotFound):  # ...and nothing is published (or created) without it
        bigquery_client().get_table(out)
    started = time.monotonic()
    run_tasks(job_id, 3, [1])  # Cloud Run's retry of task 1: takes over once the lease ran out
    assert time.monotonic() - started < TASK_LEASE_S + 60
    (shard,) = [s for s in ledger("dev").staged(job_id).values() if s.index == 1]
    assert shard.epoch == held.epoch + 1  # a new epoch, in a staging table of its own
    _assert_same_rows(_rows(out), single, job_id)
    assert get_job("dev", job_id).status == "succeeded"
    assert _job_tables(settings, job_id) == []


def test_publish_and_reruns_after_publish_never_duplicate(shard_input, forest, dev_outputs, unique):
    out = f"{dev_outputs}.twice_{unique}"
    job_id = f"twice-{unique}"
    job = _submit(shard_input, forest, out, job_id, 2, chunk_rows=200)
    assert run_task("dev", job_id, index=0, count=2) is None  # staged, not the last
    assert run_task("dev", job_id, index=1, count=2) == ROWS  # the last one publishes
    assert publish_if_complete(job) is None
    assert run_task("dev", job_id, index=0, count=2) is None  # a late retry: nothing to do
    assert len(_rows(out)) == ROWS
    assert ledger("dev").published(job_id) == ROWS


def test_a_held_publish_claim_keeps_other_publishers_out(shard_input, forest, dev_outputs, unique):
    out = f"{dev_outputs}.race_{unique}"
    job_id = f"race-{unique}"
    job = _submit(shard_input, forest, out, job_id, 2, chunk_rows=300)
    for index in range(2):
        assert run_task("dev", job_id, index=index, count=2) in (None, ROWS)
    # (the second task published: start again with a job whose publish another worker holds)
    other = f"race2-{unique}"
    job = _submit(shard_input, forest, f"{out}_b", other, 2, chunk_rows=300)
    holder = Claim("dev", other, "publish")
    holder.acquire()
    holder.start_heartbeat()
    try:
        assert run_task("dev", other, index=0, count=2) is None
        assert publish_if_complete(job, wait=False) is None  # staged, but the publish is held
        assert ledger("dev").published(other) is None
    finally:
        holder.release()
    assert run_task("dev", other, index=1, count=2) == ROWS  # the holder is gone: publish
    assert len(_rows(f"{out}_b")) == ROWS


def test_plan_is_fixed_per_job_id(shard_input, forest, dev_outputs, unique):
    out = f"{dev_outputs}.plan_{unique}"
    first = _submit(shard_input, forest, out, f"plan-{unique}", 2)
    assert ledger("dev").plan(f"plan-{unique}") == first
    again = _submit(shard_input, forest, out, f"plan-{unique}", 2)  # a retry: same request
    assert again.same_request(first)
    with pytest.raises(JobConflict):  # another request under the same id
        _submit(shard_input, forest, f"{out}_other", f"plan-{unique}", 2)
    assert ledger("dev").plan(f"plan-{unique}") == first
    with pytest.raises(ConfigError):  # a task count other than the plan's is refused
        run_task("dev", f"plan-{unique}", index=0, count=3)


def test_hash_split_needs_a_usable_key(shard_input, forest, dev_outputs, unique):
    with pytest.raises(InvalidInput, match="shard key"):
        _submit(
            shard_input, forest, f"{dev_outputs}.k_{unique}", f"k-{unique}", 2, shard_key="nope"
        )
    with pytest.raises(InvalidInput, match="shard key"):
        _submit(
            shard_input, forest, f"{dev_outputs}.k_{unique}", f"k2-{unique}", 2, id_columns=["f0"]
        )


def test_streams_split_reads_the_plans_session(shard_input, forest, dev_outputs, unique):
    """The emulator always gives one stream, so the plan is built by hand: ONE session for the
    job with stream 0 for task 0 and none for task 1 (what BigQuery does when it gives fewer
    streams than tasks). The tasks read the plan's streams, not sessions of their own."""
    import base64

    out = f"{dev_outputs}.streams_{unique}"
    job_id = f"streams-{unique}"
    hashed = _submit(shard_input, forest, f"{out}_h", f"h-{job_id}", 1)
    schema, streams = open_read_session(
        "dev", parse_table_id(shard_input), list(hashed.columns), max_streams=2
    )
    job = dataclasses.replace(
        hashed,
        job_id=job_id,
        output_table=out,
        tasks=2,
        split="streams",
        streams=tuple(streams),
        stream_schema=base64.b64encode(schema.serialize().to_pybytes()).decode(),
    )
    assert job.streams_of(0) == tuple(streams) and job.streams_of(1) == ()
    enqueue(job)
    run_tasks(job_id, 2)
    rows = _rows(out)
    assert sorted(rows["row_id"]) == list(range(ROWS))


def test_truncate_replaces_the_output_with_all_shards(shard_input, forest, dev_outputs, unique):
    from google.cloud import bigquery

    out = f"{dev_outputs}.trunc_{unique}"
    client = bigquery_client()
    for attempt in ("a", "b"):  # the second job replaces the first one's rows
        job_id = f"trunc-{attempt}-{unique}"
        _submit(shard_input, forest, out, job_id, 2, write_disposition="truncate")
        for index in range(2):
            run_task("dev", job_id, index=index, count=2)
        rows = _rows(out)
        assert len(rows) == ROWS and set(rows["job_id"]) == {job_id}
        assert ledger("dev").published(job_id) == ROWS
        if attempt == "a":  # the owner adds a column of their own to the output
            table = client.get_table(out)
            table.schema = [*table.schema, bigquery.SchemaField("note", "STRING")]
            client.update_table(table, ["schema"])
    # truncate replaced the rows, not the table: the owner's column is still there
    assert "note" in [f.name for f in client.get_table(out).schema]
