"""Uploads to the GCS emulator reach the function by themselves (fake-gcs-server -> Pub/Sub
bridge -> CloudEvent), as Eventarc does on Google Cloud."""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from mlsys.gcs import gcs_put, gcs_put_pickle
from mlsys.registry import get_version, list_versions
from tests.registry.conftest import wait_until

BUCKET = "mlsys-models-dev"


def test_upload_registers_with_metadata_columns(stack, dev_store, unique):
    model = f"auto-{unique}"
    meta = {
        "description": "auto registered",
        "tags": ["x", "y"],
        "metrics": {"accuracy": 0.81},
        "features": [{"name": "a", "dtype": "float64"}],
        "owner": "team-a",
    }
    gcs_put(json.dumps(meta), BUCKET, f"{model}/v1/metadata.json")
    start = time.monotonic()
    generation = gcs_put_pickle({"weights": [1, 2, 3]}, BUCKET, f"{model}/v1/model.pkl")
    version = wait_until(lambda: _registered(model, 1, with_metadata=True), timeout=20)
    latency = time.monotonic() - start
    assert version.generation == generation
    assert version.sha256 and len(version.sha256) == 64
    assert version.metrics == {"accuracy": 0.81} and version.tags == ["x", "y"]
    assert version.features == [{"name": "a", "dtype": "float64"}]
    assert version.metadata["owner"] == "team-a"  # unknown keys kept
    assert version.uploader  # from the object's custom metadata, set by gcs_put
    assert version.artifact_uri == f"gs://{BUCKET}/{model}/v1/model.pkl"
    assert latency < 20


def _registered(model, number, with_metadata=False):
    try:
        version = get_version("dev", model, number)
    except Exception:
        return None
    if with_metadata and not version.description:
        return None
    return version


def test_invalid_metadata_still_registers_with_error(stack, unique):
    model = f"badmeta-{unique}"
    gcs_put(b"{oops", BUCKET, f"{model}/v1/metadata.json")
    gcs_put_pickle([1], BUCKET, f"{model}/v1/model.pkl")
    version = wait_until(lambda: (v := _registered(model, 1)) and v.metadata_error and v)
    assert version.status == "registered" and "not valid JSON" in version.metadata_error


def test_overwrite_of_a_version_is_rejected_and_never_replaces_it(stack, dev_store, unique):
    model = f"again-{unique}"
    first = gcs_put(b"one", BUCKET, f"{model}/v1/model.pkl")
    registered = wait_until(lambda: _registered(model, 1))
    second = gcs_put(b"two", BUCKET, f"{model}/v1/model.pkl")
    assert second > first
    rejected = wait_until(
        lambda: [e for e in dev_store.events(model_name=model) if e.generation == second]
    )
    assert rejected[0].status == "rejected"
    # "already exists", or "existed ... and was deleted" if the overwrite's delete of the
    # first generation was handled first
    assert re.fullmatch(
        rf"v1 of {model} (already exists|existed) \(generation {first}, model.pkl\)"
        r"( and was deleted)?; versions are immutable: upload v2",
        rejected[0].reject_reason,
    )
    # The local bucket is unversioned: the overwrite deleted generation 1 (GCS sends its
    # delete), so v1 is deleted; it never becomes the new bytes.
    (row,) = wait_until(
        lambda: [r for r in dev_store.current(model_name=model) if r["status"] == "deleted"]
    )
    assert (row["generation"], registered.sha256) == (first, registered.sha256)
    assert all(r["generation"] == first for r in dev_store.current(model_name=model))


def test_second_model_file_in_a_version_is_rejected(stack, dev_store, unique):
    model = f"twofiles-{unique}"
    gcs_put(b"pickle", BUCKET, f"{model}/v1/model.pkl")
    wait_until(lambda: _registered(model, 1))
    gcs_put(b"onnx", BUCKET, f"{model}/v1/model.onnx")
    rejected = wait_until(
        lambda: [
            e
            for e in dev_store.events(object_name=f"{model}/v1/model.onnx")
            if e.status == "rejected"
        ]
    )
    assert f"v1 of {model} already exists" in rejected[0].reject_reason
    assert "model.pkl); versions are immutable: upload v2" in rejected[0].reject_reason
    assert get_version("dev", model, 1).artifact_format == "pkl"


def test_delete_marks_version_deleted(stack, unique):
    from mlsys.clients import storage_client

    model = f"gone-{unique}"
    gcs_put(b"x", BUCKET, f"{model}/v1/model.pkl")
    wait_until(lambda: _registered(model, 1))
    storage_client().bucket(BUCKET).blob(f"{model}/v1/model.pkl").delete()
    wait_until(lambda: list_versions("dev", model)[0].status == "deleted")


@pytest.mark.slow
def test_burst_of_200_uploads_from_8_threads_registers_all(stack, dev_store, unique):
    model = f"burst-{unique}"
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda n: gcs_put(f"model {n}", BUCKET, f"{model}/v{n}/model.pkl"), range(1, 201)
            )
        )
    # Every upload registered, exactly once: a check of correctness, not of speed (about 60 s
    # alone on 2 cores; bench/registry.py measures the speed). The bound is wide so that a
    # loaded machine waits the burst out instead of leaving its backlog to the next tests.
    rows = wait_until(
        lambda: (r := dev_store.current(model_name=model)) and len(r) >= 200 and r,
        timeout=360,
        interval=1.0,
    )
    assert sorted(r["model_version"] for r in rows) == list(range(1, 201))
    assert all(r["status"] == "registered" and r["sha256"] for r in rows)


def test_export_next_to_the_artifact_is_recorded_but_never_a_version(stack, dev_store, unique):
    model = f"export-{unique}"
    gcs_put(b"the model", BUCKET, f"{model}/v1/model.pkl")
    first = wait_until(lambda: _registered(model, 1))
    gcs_put(b"onnx bytes", BUCKET, f"{model}/v1/exports/bqml.onnx")
    (export,) = wait_until(lambda: dev_store.events(object_name=f"{model}/v1/exports/bqml.onnx"))
    assert export.object_kind == "export" and export.status == "registered" and export.sha256
    version = get_version("dev", model, 1)
    assert (version.object_name, version.sha256) == (first.object_name, first.sha256)
    # an export alone (no model file) never makes a version
    gcs_put(b"orphan", BUCKET, f"{model}/v2/exports/bqml.onnx")
    wait_until(lambda: dev_store.events(object_name=f"{model}/v2/exports/bqml.onnx"))
    assert [v.model_version for v in list_versions("dev", model)] == [1]
