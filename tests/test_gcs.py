"""mlsys.gcs against fake-gcs-server (real google-cloud-storage client over HTTP)."""

from __future__ import annotations

import pytest
from sklearn.linear_model import LogisticRegression

from mlsys.errors import BucketNotFound, ObjectNotFound
from mlsys.gcs import gcs_get, gcs_get_pickle, gcs_list_blobs, gcs_put, gcs_put_pickle


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"\x00\x01binary\xff" * 1000, b"\x00\x01binary\xff" * 1000),
        ("héllo wörld", "héllo wörld".encode()),
        (b"", b""),
    ],
)
def test_put_get_roundtrip(dev_bucket, unique, content, expected):
    path = f"tests/{unique}/blob.bin"
    generation = gcs_put(content, dev_bucket, path)
    assert generation > 0
    assert gcs_get(dev_bucket, path) == expected


def test_pickle_roundtrip_predicts_the_same(dev_bucket, unique):
    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    gcs_put_pickle(model, dev_bucket, f"tests/{unique}/model.pkl")
    restored = gcs_get_pickle(dev_bucket, f"tests/{unique}/model.pkl")
    assert list(restored.predict([[0.1], [2.9]])) == [0, 1]


def test_list_blobs_with_prefix(dev_bucket, unique):
    for name in ("a.txt", "b/c.txt"):
        gcs_put("x", dev_bucket, f"tests/{unique}/{name}")
    names = sorted(b.name for b in gcs_list_blobs(dev_bucket, prefix=f"tests/{unique}/"))
    assert names == [f"tests/{unique}/a.txt", f"tests/{unique}/b/c.txt"]
    assert all(b.size == 1 for b in gcs_list_blobs(dev_bucket, prefix=f"tests/{unique}/"))


def test_precondition_refuses_overwrite(dev_bucket, unique):
    from google.api_core.exceptions import PreconditionFailed

    gcs_put("first", dev_bucket, f"tests/{unique}/once.txt", if_generation_match=0)
    with pytest.raises(PreconditionFailed):
        gcs_put("second", dev_bucket, f"tests/{unique}/once.txt", if_generation_match=0)
    assert gcs_get(dev_bucket, f"tests/{unique}/once.txt") == b"first"


def test_missing_object_is_a_clear_error(dev_bucket, unique):
    with pytest.raises(ObjectNotFound, match=rf"gs://{dev_bucket}/tests/{unique}/nope.pkl"):
        gcs_get(dev_bucket, f"tests/{unique}/nope.pkl")


@pytest.mark.parametrize(
    "call",
    [
        lambda b: gcs_get(b, "x"),
        lambda b: gcs_put("x", b, "x"),
        lambda b: gcs_list_blobs(b),
    ],
)
def test_missing_bucket_is_a_clear_error(stack, unique, call):
    with pytest.raises(BucketNotFound, match=f"no-such-bucket-{unique}"):
        call(f"no-such-bucket-{unique}")
