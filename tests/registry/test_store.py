"""One suite, both stores: the BigQuery view (on the emulator) and the in-memory rule agree."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from mlsys.registry.records import RegistryEvent, event_key
from mlsys.registry.store import BigQueryRegistryStore, InMemoryRegistryStore

BUCKET = "mlsys-models-dev"
_clock = itertools.count()


@pytest.fixture(params=["memory", "bigquery"])
def store(request):
    if request.param == "memory":
        return InMemoryRegistryStore("dev")
    request.getfixturevalue("stack")
    return BigQueryRegistryStore("dev")


def ev(
    name: str,
    version: int,
    event_type: str = "finalized",
    generation: int = 100,
    kind: str = "model",
    status: str | None = None,
    file: str = "model.pkl",
    **extra,
) -> RegistryEvent:
    obj = f"{name}/v{version}/" + (file if kind == "model" else "metadata.json")
    status = status or {"deleted": "deleted"}.get(event_type, "registered")
    tick = dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=next(_clock))
    return RegistryEvent(
        event_id=event_key(BUCKET, obj, generation, event_type),
        event_type=event_type,
        status=status,
        registered_at=tick,
        gcs_bucket=BUCKET,
        object_name=obj,
        object_kind=kind,
        model_name=name,
        model_version=version,
        version_label=f"v{version}",
        environment="dev",
        artifact_uri=f"gs://{BUCKET}/{obj}",
        artifact_format=file.rsplit(".", 1)[-1] if kind == "model" else None,
        generation=generation,
        sha256=f"sha-{generation}" if kind == "model" else None,
        **extra,
    )


def test_duplicate_deliveries_give_one_row(store, unique):
    name = f"dup-{unique}"
    event = ev(name, 1)
    store.append([event])
    store.append([event])
    store.append([event])
    rows = store.current(model_name=name)
    assert len(rows) == 1 and rows[0]["status"] == "registered"


def test_delete_before_finalize_ends_deleted(store, unique):
    name = f"ooo-{unique}"
    store.append([ev(name, 1, "deleted", generation=5)])
    store.append([ev(name, 1, "finalized", generation=5)])
    (row,) = store.current(model_name=name)
    assert row["status"] == "deleted" and row["generation"] == 5


# Versions are immutable: each case is the rows as the function records them, in ARRIVAL order
# ("event_type generation status"), and the state the version must end in.
IMMUTABLE_CASES = {
    "a later generation never replaces the first": (
        "finalized 10 registered, finalized 20 rejected",
        ("registered", 10),
    ),
    "out of order: the second generation arrives first": (
        "finalized 20 registered, finalized 10 registered",
        ("registered", 10),
    ),
    "out of order, rejected only on a redelivery": (
        "finalized 20 registered, finalized 10 registered, finalized 20 rejected",
        ("registered", 10),
    ),
    "versioned bucket: an overwrite leaves the registered generation noncurrent, still stored": (
        "finalized 10 registered, finalized 20 rejected, archived 10 noncurrent",
        ("registered", 10),
    ),
    "unversioned bucket: an overwrite deletes the version, never replaces it": (
        "finalized 10 registered, finalized 20 rejected, deleted 10 deleted",
        ("deleted", 10),
    ),
    "the same, events in reverse order": (
        "deleted 10 deleted, finalized 20 rejected, finalized 10 registered",
        ("deleted", 10),
    ),
    "a generation gone before it was hashed never was the version": (
        "finalized 20 registered, finalized 10 deleted, deleted 10 deleted",
        ("registered", 20),
    ),
    # the function rejects that upload (it sees 10 in the registry): test_immutability.py
    "the lowest live generation: the view alone lets a later one in after a delete": (
        "finalized 10 registered, deleted 10 deleted, finalized 20 registered",
        ("registered", 20),
    ),
}


@pytest.mark.parametrize("case", IMMUTABLE_CASES, ids=list(IMMUTABLE_CASES))
def test_first_generation_is_the_version_whatever_the_order(store, unique, case):
    rows, expected = IMMUTABLE_CASES[case]
    name = f"imm-{unique}"
    for spec in rows.split(", "):
        event_type, generation, status = spec.split()
        store.append([ev(name, 1, event_type, generation=int(generation), status=status)])
    (row,) = store.current(model_name=name)
    assert (row["status"], row["generation"]) == expected
    if expected[0] == "registered":
        assert row["sha256"] == f"sha-{expected[1]}"
    assert len(store.events(model_name=name, version=1)) == len(rows.split(", "))


def test_second_model_file_never_replaces_the_first_in_any_order(store, unique):
    name = f"two-{unique}"
    store.append([ev(name, 1, generation=30, file="model.onnx")])
    store.append([ev(name, 1, generation=12, file="model.pkl")])
    (row,) = store.current(model_name=name)
    assert (row["generation"], row["artifact_format"]) == (12, "pkl")


def test_metadata_joins_and_invalid_metadata_still_registers(store, unique):
    name = f"meta-{unique}"
    store.append(
        [
            ev(name, 1),
            ev(
                name,
                1,
                kind="metadata",
                description="hello",
                tags=["a", "b"],
                metrics='{"auc": 0.91}',
            ),
            ev(name, 2),
            ev(name, 2, kind="metadata", metadata_error="metadata.json is not valid JSON"),
        ]
    )
    one, two = store.current(model_name=name)
    assert (one["description"], sorted(one["tags"]), one["metrics"]) == (
        "hello",
        ["a", "b"],
        '{"auc": 0.91}',
    )
    assert two["status"] == "registered" and "not valid JSON" in two["metadata_error"]


def test_deleted_metadata_is_dropped(store, unique):
    name = f"mdel-{unique}"
    store.append(
        [
            ev(name, 1),
            ev(name, 1, kind="metadata", description="x", generation=7),
            ev(name, 1, "deleted", kind="metadata", generation=7),
        ]
    )
    (row,) = store.current(model_name=name)
    assert row["description"] is None and row["status"] == "registered"


def test_rejected_events_never_become_current(store, unique):
    name = f"rej-{unique}"
    store.append([ev(name, 1, generation=1)])
    store.append([ev(name, 1, generation=9, status="rejected", reject_reason="two files")])
    (row,) = store.current(model_name=name)
    assert row["generation"] == 1 and row["status"] == "registered"


def test_versions_filter_and_event_ids(store, unique):
    name = f"ids-{unique}"
    first, second = ev(name, 1), ev(name, 2)
    store.append([first, second])
    assert [r["model_version"] for r in store.current(model_name=name)] == [1, 2]
    assert [r["model_version"] for r in store.current(model_name=name, version=2)] == [2]
    assert [e.event_id for e in store.events(model_name=name, version=2)] == [second.event_id]
    assert {first.event_id, second.event_id} <= store.event_ids(BUCKET)


def test_metadata_newest_generation_still_wins(store, unique):
    """Only the model file is immutable: metadata.json may be corrected by a new upload."""
    name = f"metanew-{unique}"
    store.append([ev(name, 1), ev(name, 1, kind="metadata", description="new", generation=9)])
    store.append([ev(name, 1, kind="metadata", description="old", generation=3)])
    (row,) = store.current(model_name=name)
    assert (row["description"], row["metadata_generation"]) == ("new", 9)


def refused(obj: str, reason: str, generation: int = 1) -> RegistryEvent:
    tick = dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=next(_clock))
    return RegistryEvent(
        event_id=event_key(BUCKET, obj, generation, "finalized"),
        event_type="finalized",
        status="rejected",
        registered_at=tick,
        gcs_bucket=BUCKET,
        object_name=obj,
        generation=generation,
        reject_reason=reason,
        environment="dev",
    )


def test_rejections_by_object_prefix_ignoring_case_newest_first(store, unique):
    wrong_file = refused(f"iris{unique}/v1/model.pickle", "unknown file")
    wrong_name = refused(f"Iris{unique}/v1/model.pkl", "invalid model name")
    other = refused(f"iris{unique}/v2/model.pickle", "unknown file")
    store.append([wrong_file, wrong_name, other, wrong_name])  # a duplicate delivery too
    store.append([ev(f"iris{unique}", 3)])  # registered: never a rejection
    found = store.rejections(object_prefix=f"iris{unique}/v1/")
    assert [e.object_name for e in found] == [wrong_name.object_name, wrong_file.object_name]
    assert found[0].reject_reason == "invalid model name"
    everything = store.rejections(search=f"IRIS{unique}")
    assert [e.object_name for e in everything] == [
        other.object_name,
        wrong_name.object_name,
        wrong_file.object_name,
    ]
    assert len(store.rejections(search=f"iris{unique}", limit=1)) == 1
    assert store.current(model_name=f"iris{unique}")[0]["model_version"] == 3


def test_a_version_with_the_bytes_of_a_lower_registered_version_is_flagged(store, unique):
    name = f"same-{unique}"

    def upload(version: int, sha: str, generation: int) -> RegistryEvent:
        event = ev(name, version, generation=generation)
        event.sha256 = sha
        return event

    store.append([upload(1, "aaa", 1), upload(2, "aaa", 2), upload(3, "bbb", 3)])
    store.append([upload(4, "aaa", 4), upload(5, "bbb", 5)])
    flags = {r["model_version"]: r["duplicate_of"] for r in store.current(model_name=name)}
    assert flags == {1: None, 2: "v1", 3: None, 4: "v1", 5: "v3"}
    # a deleted version is no longer one to duplicate: the lowest registered one counts
    store.append([ev(name, 1, "deleted", generation=1)])
    flags = {r["model_version"]: r["duplicate_of"] for r in store.current(model_name=name)}
    assert flags == {1: None, 2: None, 3: None, 4: "v2", 5: "v3"}
