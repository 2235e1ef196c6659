"""Job records: one suite run against every JobStore implementation."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from mlsys.errors import InvalidIdentifier
from mlsys.predict.records import (
    BigQueryJobStore,
    JobRecord,
    JobStatus,
    MemoryJobStore,
    check_job_id,
    new_job_id,
)


@pytest.fixture(params=["memory", "bigquery"])
def store(request):
    if request.param == "memory":
        return MemoryJobStore()
    request.getfixturevalue("stack")
    bq = BigQueryJobStore("dev")
    bq.local = _Forgetful()  # read back from BigQuery, as another instance would
    return bq


class _Forgetful(MemoryJobStore):
    def get(self, job_id):
        return None


def _record(job_id: str, **changes) -> JobRecord:
    base = JobRecord(
        job_id=job_id,
        env="dev",
        status=JobStatus.RUNNING,
        input_table="p.d.in",
        output_table="p.d.out",
        model_name="m",
    )
    return dataclasses.replace(base, **changes)


def test_latest_status_wins(store, unique):
    job_id = f"j-{unique}"
    start = dt.datetime.now(dt.UTC)
    store.save(_record(job_id, rows_total=10, updated_at=start))
    store.save(
        _record(
            job_id,
            status=JobStatus.SUCCEEDED,
            rows_total=10,
            rows_done=10,
            rows_written=10,
            updated_at=start + dt.timedelta(seconds=1),
        )
    )
    got = store.get(job_id)
    assert (got.status, got.rows_written, got.rows_total) == ("succeeded", 10, 10)


def test_unknown_job_is_none(store, unique):
    assert store.get(f"never-{unique}") is None


@pytest.mark.parametrize("job_id", ["", "a b", "x/y", "drop;table", "é", "a" * 65])
def test_bad_job_ids_are_refused(job_id):
    with pytest.raises(InvalidIdentifier):
        check_job_id(job_id)


def test_generated_job_ids_are_valid():
    assert check_job_id(new_job_id())
