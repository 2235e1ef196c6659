"""Safe model loading: bytes verified against the registry before anything is deserialized,
pickles read through the allow-list, and every bad artifact a clear 4xx, never a 500."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import httpx
import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from mlsys import artifacts
from mlsys.artifacts import ArtifactRef, load_model
from mlsys.bq import bq_put
from mlsys.errors import (
    ArtifactTooLarge,
    IntegrityError,
    InvalidArtifact,
    UnsupportedFormat,
    UntrustedArtifact,
    UntrustedGlobal,
    UnverifiedArtifact,
)
from mlsys.gcs import gcs_put
from tests.predict.helpers import model_bytes, numeric_frame, publish

X = np.random.default_rng(0).random((60, 3))
Y = (X[:, 0] > 0.5).astype(int)


class _Exploit:
    """Unpickling this writes a marker file: proof that bytes were deserialized."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path(self.marker).write_text, ("pwned",))


class _System:
    """Unpickling this runs ``os.system(command)`` (pickled as ``posix.system`` on Linux)."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


SYSTEM = f"{os.system.__module__}.system"


@pytest.fixture
def bucket(settings) -> str:
    return settings.bucket_for("dev")


@pytest.fixture(scope="module")
def service(stack, settings):
    """The service `mlsys local up` started (its own process, as on Cloud Run)."""
    with httpx.Client(base_url=settings.service_url, timeout=60) as http:
        yield http


@pytest.fixture(scope="module")
def input_table(stack, settings) -> str:
    table = f"{settings.dataset_ref('dev')}.artifacts_in"
    bq_put(numeric_frame(20, k=3), table, "WRITE_TRUNCATE")
    return table


def _predict(service: httpx.Client, table: str, model_name: str) -> httpx.Response:
    body = {
        "env": "dev",
        "input_table": table,
        "output_table": f"{table}_out",
        "model_name": model_name,
        "model_version": "v1",
    }
    return service.post("/predict", json=body)


@pytest.mark.parametrize("fmt", ["pkl", "joblib", "skops", "onnx"])
def test_every_format_loads_after_verification(stack, bucket, fmt):
    model = LogisticRegression().fit(X, Y)
    if fmt == "onnx":
        from skl2onnx import to_onnx

        data = to_onnx(model, X[:1].astype(np.float32)).SerializeToString()
    else:
        data = model_bytes(model, fmt)
    mv = publish(data, fmt=fmt)
    loaded = load_model(ArtifactRef.from_version(mv), allowed_bucket=bucket)
    assert loaded.sha256 == mv.sha256 and loaded.generation == mv.generation
    labels = loaded.model.predict(X.astype(np.float32) if fmt == "onnx" else X)
    assert list(labels) == list(model.predict(X))


def test_mismatched_hash_is_refused_before_deserializing(stack, bucket, tmp_path, unique):
    marker = tmp_path / "deserialized"
    mv = publish(pickle.dumps(_Exploit(str(marker))))
    forged = mv.model_copy(update={"sha256": "0" * 64})
    with pytest.raises(IntegrityError, match="sha256 mismatch"):
        load_model(ArtifactRef.from_version(forged), allowed_bucket=bucket)
    assert not marker.exists()


def test_replaced_object_is_refused(stack, bucket, tmp_path):
    """Someone overwrites model.pkl after registration: we load the registered bytes or none."""
    mv = publish(LogisticRegression().fit(X, Y))
    marker = tmp_path / "deserialized"
    gcs_put(pickle.dumps(_Exploit(str(marker))), bucket, mv.object_name)
    ref = ArtifactRef.from_version(mv)
    artifacts.clear_cache()
    try:  # the registered generation if the bucket still keeps it, else a refusal
        loaded = load_model(ref, allowed_bucket=bucket)
        assert isinstance(loaded.model, LogisticRegression)
    except IntegrityError as exc:
        assert "is gone" in exc.message
    assert not marker.exists()
    tampered = ArtifactRef(ref.bucket, ref.object_name, "pkl", generation=None, sha256=ref.sha256)
    with pytest.raises(IntegrityError):
        load_model(tampered, allowed_bucket=bucket)  # the live bytes differ from the registry
    assert not marker.exists()


def test_other_buckets_are_refused(stack, bucket):
    ref = ArtifactRef.from_uri("gs://someone-elses-bucket/m/v1/model.pkl")
    with pytest.raises(UntrustedArtifact, match="only loaded from"):
        load_model(ref, allowed_bucket=bucket)


def test_untrusted_skops_types_are_refused(stack, bucket):
    import skops.io as sio

    data = sio.dumps({"model": LogisticRegression().fit(X, Y), "extra": _Exploit("x")})
    mv = publish(data, fmt="skops")
    with pytest.raises(UntrustedArtifact, match="_Exploit"):
        load_model(ArtifactRef.from_version(mv), allowed_bucket=bucket)


def test_loaded_models_are_cached_by_generation(stack, bucket, monkeypatch):
    mv = publish(LogisticRegression().fit(X, Y))
    ref = ArtifactRef.from_version(mv)
    first = load_model(ref, allowed_bucket=bucket)
    monkeypatch.setattr(artifacts, "_download", lambda *a: pytest.fail("downloaded again"))
    assert load_model(ref, allowed_bucket=bucket) is first


def test_unknown_format_is_refused():
    with pytest.raises(UnsupportedFormat, match="expected one of"):
        ArtifactRef.from_uri("gs://b/m/v1/model.h5")


def test_exploit_marker_works(tmp_path):
    """The exploits used above really run code when unpickled (so their absence means safety)."""
    marker = tmp_path / "m"
    pickle.loads(pickle.dumps(_Exploit(str(marker))))
    assert marker.exists()
    os.remove(marker)
    pickle.loads(pickle.dumps(_System(f"touch {marker}")))
    assert marker.exists()


def test_registered_exploit_is_refused_naming_its_global(stack, bucket, tmp_path):
    marker = tmp_path / "pwned"
    mv = publish(pickle.dumps(_System(f"touch {marker}")))
    assert mv.status == "registered" and mv.sha256  # the function registers it like any upload
    with pytest.raises(UntrustedGlobal, match=f"refers to {SYSTEM}, which is not allowed"):
        load_model(ArtifactRef.from_version(mv), allowed_bucket=bucket)
    assert not marker.exists()


def test_registered_exploit_through_post_predict_is_a_422_naming_its_global(
    service, input_table, tmp_path
):
    marker = tmp_path / "pwned"  # the service runs on this machine: it would write it here
    mv = publish(pickle.dumps(_System(f"touch {marker}")), fmt="joblib")
    response = _predict(service, input_table, mv.model_name)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "UNTRUSTED_GLOBAL" and body["details"] == {"global": SYSTEM}
    assert SYSTEM in body["message"]
    assert not marker.exists()


def _lr_bytes() -> bytes:
    buffer = io.BytesIO()
    joblib.dump(LogisticRegression().fit(X, Y), buffer)
    return buffer.getvalue()


BAD_ARTIFACTS = {
    "truncated joblib file": (lambda: _lr_bytes()[:300], "could not be read"),
    "truncated pickle": (
        lambda: pickle.dumps(LogisticRegression().fit(X, Y))[:200],
        "could not be read",
    ),
    "garbage bytes": (lambda: b"\x00\x01 this is not a pickle " * 10, "could not be read"),
    "empty file": (lambda: b"", "could not be read"),
    "corrupt zlib joblib file": (lambda: b"x\x9c" + b"\x00garbage" * 20, "could not be read"),
    "a pickled dict": (lambda: pickle.dumps({"weights": [1, 2, 3]}), "holds a builtins.dict"),
    "a numpy array": (lambda: pickle.dumps(np.arange(3)), "holds a numpy.ndarray, not a model"),
}


@pytest.mark.parametrize("case", BAD_ARTIFACTS)
def test_unusable_artifacts_are_a_clear_422(stack, bucket, case):
    make, message = BAD_ARTIFACTS[case]
    mv = publish(make())
    with pytest.raises(InvalidArtifact, match=message) as refused:
        load_model(ArtifactRef.from_version(mv), allowed_bucket=bucket)
    assert refused.value.http_status == 422


@pytest.mark.parametrize("case", ["truncated joblib file", "a pickled dict"])
def test_unusable_artifacts_through_post_predict_are_json_422s(service, input_table, case):
    mv = publish(BAD_ARTIFACTS[case][0]())
    response = _predict(service, input_table, mv.model_name)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "INVALID_ARTIFACT"


@pytest.fixture
def no_download(monkeypatch):
    """Fail the test if any byte of the artifact is downloaded."""
    monkeypatch.setattr(artifacts, "_download", lambda *a: pytest.fail("downloaded"))


def test_artifact_over_the_size_limit_is_refused_before_download(
    stack, bucket, settings, monkeypatch, no_download
):
    mv = publish(LogisticRegression().fit(X, Y))
    small = settings.model_copy(update={"max_artifact_bytes": mv.file_size_bytes - 1})
    monkeypatch.setattr(artifacts, "get_settings", lambda: small)
    with pytest.raises(ArtifactTooLarge, match="MLSYS_MAX_ARTIFACT_BYTES") as refused:
        load_model(ArtifactRef.from_version(mv), allowed_bucket=bucket)
    assert refused.value.http_status == 422
    assert refused.value.details == {"size": mv.file_size_bytes, "limit": mv.file_size_bytes - 1}


def test_size_other_than_the_registry_recorded_is_refused_before_download(
    stack, bucket, no_download
):
    mv = publish(LogisticRegression().fit(X, Y))
    forged = mv.model_copy(update={"file_size_bytes": mv.file_size_bytes + 1})
    with pytest.raises(IntegrityError, match="refusing to download it"):
        load_model(ArtifactRef.from_version(forged), allowed_bucket=bucket)


def test_version_without_sha256_is_refused_not_loaded_unverified(
    stack, bucket, monkeypatch, no_download
):
    mv = publish(LogisticRegression().fit(X, Y))
    monkeypatch.setattr(artifacts, "_object_at", lambda *a: pytest.fail("looked up"))
    unhashed = mv.model_copy(update={"sha256": None})
    with pytest.raises(UnverifiedArtifact, match="no sha256") as refused:
        load_model(ArtifactRef.from_version(unhashed), allowed_bucket=bucket)
    assert refused.value.http_status == 403
