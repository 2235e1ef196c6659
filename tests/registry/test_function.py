"""The registry function as Eventarc calls it: binary CloudEvents POSTed to functions-framework
running `functions/registry/main.py` (the local stack's function process)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from mlsys.gcs import gcs_put
from tests.registry.conftest import wait_until

FINALIZED = "google.cloud.storage.object.v1.finalized"
DELETED = "google.cloud.storage.object.v1.deleted"


def post_event(
    stack, ce_type: str, bucket: str, name: str, generation: int, **data
) -> httpx.Response:
    headers = {
        "ce-id": uuid.uuid4().hex,
        "ce-specversion": "1.0",
        "ce-type": ce_type,
        "ce-source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
        "ce-subject": f"objects/{name}",
        "ce-time": "2026-11-25T12:00:00Z",
        "content-type": "application/json",
    }
    body = {"bucket": bucket, "name": name, "generation": str(generation), "size": "3", **data}
    return httpx.post(stack.env["MLSYS_FUNCTION_URL"], headers=headers, json=body, timeout=30)


def test_same_event_three_times_gives_one_current_row(stack, dev_store, unique):
    name = f"triple-{unique}/v1/model.pkl"
    generation = gcs_put(b"abc", "mlsys-models-dev", name)
    wait_until(lambda: dev_store.current(model_name=f"triple-{unique}"))
    for _ in range(3):
        assert post_event(stack, FINALIZED, "mlsys-models-dev", name, generation).status_code < 300
    rows = dev_store.current(model_name=f"triple-{unique}")
    assert len(rows) == 1 and rows[0]["generation"] == generation
    events = dev_store.events(model_name=f"triple-{unique}")
    assert len({e.event_id for e in events}) == 1 and len(events) >= 1


def test_delete_delivered_before_finalize_ends_deleted(stack, dev_store, unique):
    model = f"late-{unique}"
    name = f"{model}/v1/model.pkl"
    assert post_event(stack, DELETED, "mlsys-models-dev", name, 42).status_code < 300
    assert post_event(stack, FINALIZED, "mlsys-models-dev", name, 42).status_code < 300
    (row,) = wait_until(lambda: dev_store.current(model_name=model))
    assert row["status"] == "deleted"


@pytest.mark.parametrize(
    "bucket, name, reason",
    [
        ("mlsys-models-dev", "Bad_Name/v1/model.pkl", "invalid model name"),
        ("mlsys-models-dev", "m/v01/model.pkl", "invalid version folder"),
        ("mlsys-models-dev", "m/v1/model.exe", "unknown file"),
        ("mlsys-models-dev", "m/v1/../../etc/model.pkl", "path traversal"),
        ("some-other-bucket", "m/v1/model.pkl", "not a configured models bucket"),
    ],
)
def test_malformed_events_are_rejected_acknowledged_and_recorded(
    stack, dev_store, unique, bucket, name, reason
):
    name = name.replace("m/", f"m{unique}/", 1) if name.startswith("m/") else name
    response = post_event(stack, FINALIZED, bucket, name, 7)
    assert 200 <= response.status_code < 300  # acknowledged: Eventarc must not retry forever
    rejected = wait_until(
        lambda: [e for e in dev_store.events(object_name=name) if e.status == "rejected"]
    )
    assert reason in rejected[0].reject_reason


ARCHIVED = "google.cloud.storage.object.v1.archived"


def test_archived_event_of_a_stored_generation_keeps_the_version(stack, dev_store, unique):
    """Versioned buckets: an overwrite makes the registered generation noncurrent, still stored:
    it stays the version (the local bucket is unversioned, so the event is sent by hand for a
    generation that still exists)."""
    model = f"keep-{unique}"
    name = f"{model}/v1/model.pkl"
    generation = gcs_put(b"the model", "mlsys-models-dev", name)
    wait_until(lambda: dev_store.current(model_name=model))
    assert post_event(stack, ARCHIVED, "mlsys-models-dev", name, generation).status_code < 300
    archived = wait_until(
        lambda: [e for e in dev_store.events(model_name=model) if e.event_type == "archived"]
    )
    assert archived[0].status == "noncurrent"
    (row,) = dev_store.current(model_name=model)
    assert (row["status"], row["generation"]) == ("registered", generation)


def test_archived_event_of_a_generation_that_is_gone_counts_as_deleted(stack, dev_store, unique):
    model = f"arch-{unique}"
    name = f"{model}/v1/model.pkl"
    assert post_event(stack, FINALIZED, "mlsys-models-dev", name, 11).status_code < 300
    assert post_event(stack, ARCHIVED, "mlsys-models-dev", name, 11).status_code < 300
    (row,) = wait_until(
        lambda: (r := dev_store.current(model_name=model)) and r[0]["status"] == "deleted" and r
    )
    assert row["generation"] == 11
    statuses = {e.event_type: e.status for e in dev_store.events(model_name=model)}
    assert statuses == {"finalized": "deleted", "archived": "deleted"}  # never stored: gone
