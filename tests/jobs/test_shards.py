"""Sharded prediction: N task processes (``python -m mlsys.jobs.predict`` with the Cloud Run
task variables) against the emulator stack give exactly the rows of one single-process run.

Cloud Run itself is not here: the tests start the task processes the way Cloud Run does (same
module, same environment variables, one process per task) and play its retry by rerunning a
killed task.
"""

from __future__ import annotations

import time

import pandas as pd
import pytest
from google.api_core import exceptions as gexc

from mlsys.bq import bq_get
from mlsys.clients import bigquery_client
from mlsys.errors import ConfigError, InvalidInput, JobConflict
from mlsys.identifiers import parse_table_id
from mlsys.jobs import plan_job, run_task, shard_store
from mlsys.jobs.publish import claim_table, publish_if_complete
from mlsys.jobs.shard import task_table
from mlsys.predict import get_job, run_prediction
from tests.jobs.conftest import ROWS, run_tasks, start_task, trained_forest
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


def _plan(shard_input: str, mv, out: str, job_id: str, tasks: int, **kw):
    return plan_job(
        env="dev",
        input_table=shard_input,
        output_table=out,
        model_name=mv.model_name,
        model_version=mv.version_label,
        tasks=tasks,
        job_id=job_id,
        **kw,
    )


@pytest.mark.parametrize("tasks", [1, 3])
def test_union_of_task_processes_equals_a_single_run(
    shard_input, forest, dev_outputs, unique, tasks
):
    single = _single_run(shard_input, forest, f"{dev_outputs}.single_{unique}")
    out = f"{dev_outputs}.sharded_{unique}"
    job_id = f"shard-{unique}"
    plan = _plan(shard_input, forest, out, job_id, tasks, chunk_rows=64)
    # The emulator answers every read session with one stream: the hash split is used.
    assert plan.split == "hash" or tasks == 1
    run_tasks(job_id, tasks)
    _assert_same_rows(_rows(out), single, job_id)
    record = get_job("dev", job_id)
    assert (record.status, record.rows_written, record.rows_done) == ("succeeded", ROWS, ROWS)
    staged = [task_table(parse_table_id(out), job_id, i) for i in range(tasks)]
    for table in staged:  # staging tables are dropped after the publish
        with pytest.raises(gexc.NotFound):
            bigquery_client().get_table(str(table))


def test_killed_task_rerun_gives_exactly_the_same_rows(shard_input, dev_outputs, unique):
    slow = publish(SlowModel(trained_forest(), seconds=0.4))
    single = _single_run(shard_input, slow, f"{dev_outputs}.single_{unique}")
    out = f"{dev_outputs}.killed_{unique}"
    job_id = f"kill-{unique}"
    _plan(shard_input, slow, out, job_id, 3, chunk_rows=40)
    victim = start_task(job_id, 1, 3)
    staging = str(task_table(parse_table_id(out), job_id, 1))
    deadline = time.monotonic() + 120
    while _staged_rows(staging) == 0:  # wait until it has written part of its shard
        assert victim.poll() is None, victim.communicate()[0]
        assert time.monotonic() < deadline, "task 1 never staged anything"
        time.sleep(0.2)
    victim.kill()  # SIGKILL: no clean-up at all, like a lost instance
    victim.wait()
    run_tasks(job_id, 3, [0, 2])
    assert _staged_rows(staging) > 0  # the killed attempt left partial rows behind...
    assert not _published_rows(out, job_id)  # ...and nothing is published without task 1
    run_tasks(job_id, 3, [1])  # Cloud Run's retry of task 1
    _assert_same_rows(_rows(out), single, job_id)
    assert get_job("dev", job_id).status == "succeeded"


def test_publish_and_reruns_after_publish_never_duplicate(shard_input, forest, dev_outputs, unique):
    out = f"{dev_outputs}.twice_{unique}"
    job_id = f"twice-{unique}"
    plan = _plan(shard_input, forest, out, job_id, 2, chunk_rows=200)
    for index in range(2):  # in-process tasks: same code as the entry point
        run_task("dev", job_id, index=index, count=2)
    assert publish_if_complete(plan) is None
    assert run_task("dev", job_id, index=0, count=2).rows == 0  # a late retry: nothing to do
    assert len(_rows(out)) == ROWS
    assert shard_store("dev").published(job_id) == ROWS


def test_concurrent_publishers_publish_once(shard_input, forest, dev_outputs, unique):
    out = f"{dev_outputs}.race_{unique}"
    job_id = f"race-{unique}"
    plan = _plan(shard_input, forest, out, job_id, 2, chunk_rows=300)
    store = shard_store("dev")
    for index in range(2):
        store.task_done(job_id, index, 0, 0)  # pretend both staged (empty) shards...
        bigquery_client().create_table(str(task_table(parse_table_id(out), job_id, index)))
    claim = claim_table(parse_table_id(out), job_id)
    bigquery_client().create_table(str(claim))  # ...and another task holds the claim
    assert publish_if_complete(plan) is None
    assert store.published(job_id) is None


def test_plan_is_fixed_per_job_id(shard_input, forest, dev_outputs, unique):
    out = f"{dev_outputs}.plan_{unique}"
    first = _plan(shard_input, forest, out, f"plan-{unique}", 2)
    again = _plan(shard_input, forest, out, f"plan-{unique}", 2)
    assert again == first
    with pytest.raises(JobConflict):
        _plan(shard_input, forest, f"{out}_other", f"plan-{unique}", 2)
    with pytest.raises(ConfigError):  # a task count other than the plan's is refused
        run_task("dev", f"plan-{unique}", index=0, count=3)


def test_hash_split_needs_a_usable_key(shard_input, forest, dev_outputs, unique):
    with pytest.raises(InvalidInput, match="shard key"):
        _plan(shard_input, forest, f"{dev_outputs}.k_{unique}", f"k-{unique}", 2, shard_key="nope")
    with pytest.raises(InvalidInput, match="shard key"):
        _plan(
            shard_input, forest, f"{dev_outputs}.k_{unique}", f"k2-{unique}", 2, id_columns=["f0"]
        )


def _staged_rows(table: str) -> int:
    try:
        return int(bigquery_client().get_table(table).num_rows or 0)
    except gexc.NotFound:
        return 0


def _published_rows(table: str, job_id: str) -> int:
    try:
        bigquery_client().get_table(table)
    except gexc.NotFound:
        return 0
    from google.cloud import bigquery

    config = bigquery.QueryJobConfig(
        query_parameters=[bigquery.ScalarQueryParameter("job_id", "STRING", job_id)]
    )
    sql = f"SELECT COUNT(*) AS n FROM `{table}` WHERE job_id = @job_id"
    return int(next(iter(bigquery_client().query(sql, job_config=config).result()))["n"])


def test_streams_split_reads_the_launchers_session(shard_input, forest, dev_outputs, unique):
    """The emulator always gives one stream, so the plan is built by hand: ONE session for the
    job with stream 0 for task 0 and none for task 1 (what BigQuery does when it gives fewer
    streams than tasks). The tasks read the launcher's streams, not sessions of their own."""
    import dataclasses

    from mlsys.jobs.launcher import _session_streams

    out = f"{dev_outputs}.streams_{unique}"
    job_id = f"streams-{unique}"
    hashed = _plan(shard_input, forest, f"{out}_h", f"h-{job_id}", 1)
    streams, schema = _session_streams(parse_table_id(shard_input), hashed.columns, 2, "dev")
    plan = dataclasses.replace(
        hashed,
        job_id=job_id,
        output_table=out,
        task_count=2,
        split="streams",
        streams=streams,
        arrow_schema=schema,
    )
    assert plan.streams_of(0) == streams and plan.streams_of(1) == ()
    shard_store("dev").save_plan(plan)
    run_tasks(job_id, 2)
    rows = _rows(out)
    assert sorted(rows["row_id"]) == list(range(ROWS))


def test_truncate_replaces_the_output_with_all_shards(shard_input, forest, dev_outputs, unique):
    out = f"{dev_outputs}.trunc_{unique}"
    for attempt in ("a", "b"):  # the second job replaces the first one's rows
        job_id = f"trunc-{attempt}-{unique}"
        _plan(shard_input, forest, out, job_id, 2, write_disposition="truncate")
        for index in range(2):
            run_task("dev", job_id, index=index, count=2)
        rows = _rows(out)
        assert len(rows) == ROWS and set(rows["job_id"]) == {job_id}
        assert shard_store("dev").published(job_id) == ROWS
