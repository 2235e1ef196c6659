"""Versions are immutable: the first generation of a version's model file is the version.

The local models buckets are unversioned (and the local stack's fake-gcs-server keeps its data
on disk, where it does not implement versioning), so the versioned-bucket cases run on a
versioned bucket of a second fake-gcs-server kept in memory, made the staging bucket of this
process's settings (Cloud Storage calls of this process go to that server), with
CloudEvents handed to ``handle_cloudevent`` in every delivery order (the event bodies are the
real objects' metadata) and an in-memory registry (the shared store suite pins that the
BigQuery view agrees with it).
"""

from __future__ import annotations

import io
import itertools
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator

import httpx
import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from mlsys.artifacts import ArtifactRef, clear_cache, load_model
from mlsys.clients import storage_client
from mlsys.gcs import gcs_put
from mlsys.registry import InMemoryRegistryStore, get_version, handle_cloudevent
from mlsys.registry.sync import sync_bucket
from mlsys.settings import reset_settings
from tests.registry.conftest import wait_until

CE = "google.cloud.storage.object.v1."
X = np.random.default_rng(0).random((40, 2))


def _model_bytes(threshold: float) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(LogisticRegression().fit(X, (X[:, 0] > threshold).astype(int)), buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def memory_gcs() -> Iterator[str]:
    """A fake-gcs-server with its in-memory backend (which implements object versioning)."""
    from mlsys.local.components import _fake_gcs_binary

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [_fake_gcs_binary(), "-scheme", "http", "-host", "127.0.0.1"]
    command += ["-port", str(port), "-backend", "memory", "-log-level", "error"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/storage/v1/b", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the in-memory fake-gcs-server did not start"
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def versioned(stack, memory_gcs, monkeypatch):
    """A versioned bucket, configured as this process's staging bucket."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", memory_gcs)
    reset_settings()
    client = storage_client()
    bucket = client.bucket(f"mlsys-versioned-{uuid.uuid4().hex[:8]}")
    bucket.versioning_enabled = True
    client.create_bucket(bucket)
    monkeypatch.setenv("GCS_BUCKET_MODELS_STAGING", bucket.name)
    reset_settings()
    yield bucket.name
    monkeypatch.undo()
    reset_settings()


def _upload(bucket: str, name: str, data: bytes) -> dict:
    """Upload ``data`` and return the object resource a CloudEvent would carry."""
    blob = storage_client().bucket(bucket).blob(name)
    blob.upload_from_string(data)
    return {
        "bucket": bucket,
        "name": name,
        "generation": str(blob.generation),
        "metageneration": str(blob.metageneration),
        "size": str(blob.size),
        "md5Hash": blob.md5_hash,
    }


def _deliver(store: InMemoryRegistryStore, *events: tuple[str, dict]) -> None:
    for kind, data in events:
        handle_cloudevent(CE + kind, data, ce_id=uuid.uuid4().hex, store=store)


ORDERS = list(itertools.permutations(["first", "second", "archived"]))


@pytest.mark.parametrize("order", ORDERS, ids=["-".join(o) for o in ORDERS])
def test_overwrite_of_a_versioned_bucket_keeps_serving_the_first_generation(
    versioned, unique, order
):
    name = f"vers-{unique}/v1/model.pkl"
    first_model = _model_bytes(0.5)
    first = _upload(versioned, name, first_model)
    second = _upload(versioned, name, _model_bytes(0.2))  # the first becomes noncurrent
    store = InMemoryRegistryStore("staging")
    events = {"first": ("finalized", first), "second": ("finalized", second)}
    events["archived"] = ("archived", first)
    _deliver(store, *(events[step] for step in order))

    version = get_version("staging", f"vers-{unique}", 1, store=store)
    assert version.generation == int(first["generation"])
    rejected = [e for e in store.events(object_name=name) if e.status == "rejected"]
    assert [e.generation for e in rejected] == [int(second["generation"])]
    assert rejected[0].reject_reason == (
        f"v1 of vers-{unique} already exists (generation {first['generation']}, model.pkl); "
        "versions are immutable: upload v2"
    )
    archived = [e for e in store.events(object_name=name) if e.event_type == "archived"]
    assert [e.status for e in archived] == ["noncurrent"]
    clear_cache()
    loaded = load_model(ArtifactRef.from_version(version), allowed_bucket=versioned)
    assert loaded.generation == int(first["generation"])
    expected = joblib.load(io.BytesIO(first_model))  # our own bytes: trusted
    assert np.array_equal(loaded.model.coef_, expected.coef_)  # the first model's weights


def test_deleting_the_registered_generation_deletes_the_version(versioned, unique):
    name = f"gone-{unique}/v1/model.pkl"
    first = _upload(versioned, name, _model_bytes(0.5))
    second = _upload(versioned, name, _model_bytes(0.2))
    store = InMemoryRegistryStore("staging")
    _deliver(store, ("finalized", first), ("finalized", second), ("archived", first))
    _deliver(store, ("deleted", first))  # e.g. lifecycle deleted the noncurrent generation
    (row,) = store.current(model_name=f"gone-{unique}")
    assert (row["status"], row["generation"]) == ("deleted", int(first["generation"]))


def test_second_model_file_arriving_first_is_rejected(versioned, unique):
    folder = f"pair-{unique}/v1"
    pkl = _upload(versioned, f"{folder}/model.pkl", _model_bytes(0.5))
    onnx = _upload(versioned, f"{folder}/model.onnx", b"not even onnx")
    store = InMemoryRegistryStore("staging")
    _deliver(store, ("finalized", onnx), ("finalized", pkl))
    assert get_version("staging", f"pair-{unique}", 1, store=store).artifact_format == "pkl"
    (rejected,) = [e for e in store.events(model_name=f"pair-{unique}") if e.status == "rejected"]
    assert rejected.object_name == f"{folder}/model.onnx"
    assert f"already exists (generation {pkl['generation']}, model.pkl)" in rejected.reject_reason


def test_sync_registers_the_first_generation_of_a_versioned_bucket(versioned, unique):
    name = f"sync-{unique}/v1/model.pkl"
    first = _upload(versioned, name, _model_bytes(0.5))
    second = _upload(versioned, name, _model_bytes(0.2))
    store = InMemoryRegistryStore("staging")  # every event missed
    report = sync_bucket("staging", store=store)
    assert (report.registered, report.rejected, report.deleted) == ([name], [name], [])
    (row,) = store.current(model_name=f"sync-{unique}")
    assert (row["status"], row["generation"]) == ("registered", int(first["generation"]))
    rejected = [e for e in store.events(object_name=name) if e.status == "rejected"]
    assert [e.generation for e in rejected] == [int(second["generation"])]
    assert sync_bucket("staging", store=store).appended == 0


def test_sync_of_an_unversioned_overwrite_deletes_the_version(stack, unique):
    bucket, name = "mlsys-models-staging", f"unv-{unique}/v1/model.pkl"
    store = InMemoryRegistryStore("staging")
    first = gcs_put(b"one", bucket, name)
    sync_bucket("staging", store=store)
    second = gcs_put(b"two", bucket, name)  # the bytes of the first are gone
    report = sync_bucket("staging", store=store)
    assert (report.rejected, report.deleted) == ([name], [name])
    (row,) = store.current(model_name=f"unv-{unique}")
    assert (row["status"], row["generation"]) == ("deleted", first)
    reasons = [e.reject_reason for e in store.events(object_name=name) if e.generation == second]
    assert reasons == [
        f"v1 of unv-{unique} already exists (generation {first}, model.pkl); "
        "versions are immutable: upload v2"
    ]


def test_reupload_after_a_delete_is_rejected_by_the_function(stack, dev_store, unique):
    model = f"reup-{unique}"
    name = f"{model}/v1/model.pkl"
    first = gcs_put(b"one", "mlsys-models-dev", name)
    wait_until(lambda: dev_store.current(model_name=model))
    storage_client().bucket("mlsys-models-dev").blob(name).delete()
    wait_until(lambda: dev_store.current(model_name=model)[0]["status"] == "deleted")
    second = gcs_put(b"two", "mlsys-models-dev", name)
    (rejected,) = wait_until(
        lambda: [e for e in dev_store.events(model_name=model) if e.generation == second]
    )
    assert (rejected.status, rejected.reject_reason) == (
        "rejected",
        f"v1 of {model} existed (generation {first}, model.pkl) and was deleted; "
        "versions are immutable: upload v2",
    )
    (row,) = dev_store.current(model_name=model)
    assert (row["status"], row["generation"]) == ("deleted", first)
