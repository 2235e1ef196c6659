"""Safe model loading: bytes verified against the registry before anything is deserialized."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from mlsys import artifacts
from mlsys.artifacts import ArtifactRef, load_model
from mlsys.errors import IntegrityError, UnsupportedFormat, UntrustedArtifact
from mlsys.gcs import gcs_put
from tests.predict.helpers import model_bytes, publish

X = np.random.default_rng(0).random((60, 3))
Y = (X[:, 0] > 0.5).astype(int)


class _Exploit:
    """Unpickling this writes a marker file: proof that bytes were deserialized."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path(self.marker).write_text, ("pwned",))


@pytest.fixture
def bucket(settings) -> str:
    return settings.bucket_for("dev")


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
    """The exploit used above really runs code when unpickled (so its absence means safety)."""
    marker = tmp_path / "m"
    pickle.loads(pickle.dumps(_Exploit(str(marker))))
    assert marker.exists()
    os.remove(marker)
