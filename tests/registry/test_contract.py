"""The artifact contract: which object paths and metadata fit, and what the errors say."""

from __future__ import annotations

import json

import pytest

from mlsys.errors import ArtifactPathError, InvalidVersion, MetadataError
from mlsys.registry.contract import parse_artifact_path, parse_metadata, parse_version


@pytest.mark.parametrize(
    "path, name, version, kind, fmt",
    [
        ("titanic-survival/v3/model.pkl", "titanic-survival", 3, "model", "pkl"),
        ("a/v1/model.joblib", "a", 1, "model", "joblib"),
        ("churn2/v10/model.skops", "churn2", 10, "model", "skops"),
        ("m-1/v999/model.onnx", "m-1", 999, "model", "onnx"),
        ("titanic-survival/v3/metadata.json", "titanic-survival", 3, "metadata", None),
        ("titanic-survival/v3/exports/bqml.onnx", "titanic-survival", 3, "export", "onnx"),
    ],
)
def test_valid_paths(path, name, version, kind, fmt):
    parsed = parse_artifact_path(path)
    assert (parsed.model_name, parsed.version, parsed.kind, parsed.artifact_format) == (
        name,
        version,
        kind,
        fmt,
    )


@pytest.mark.parametrize(
    "path, reason",
    [
        ("Titanic/v1/model.pkl", "invalid model name"),
        ("1model/v1/model.pkl", "invalid model name"),
        ("a_b/v1/model.pkl", "invalid model name"),
        ("a" * 64 + "/v1/model.pkl", "invalid model name"),
        ("m/v0/model.pkl", "invalid version folder"),
        ("m/v01/model.pkl", "invalid version folder"),
        ("m/1/model.pkl", "invalid version folder"),
        ("m/v1.2/model.pkl", "invalid version folder"),
        ("m/v1/model.pt", "unknown file"),
        ("m/v1/weights.pkl", "unknown file"),
        ("m/v1/model.pkl.bak", "unknown file"),
        ("m/v1/../v2/model.pkl", "path traversal"),
        ("m//v1/model.pkl", "path traversal"),
        ("/m/v1/model.pkl", "invalid object path"),
        ("m\\v1\\model.pkl", "invalid object path"),
        ("m/v1/sub/model.pkl", "path segments"),
        ("m/v1/exports/.hidden", "invalid export file name"),
        ("m/v1/exports/a/b.onnx", "path segments"),
        ("model.pkl", "path segments"),
    ],
)
def test_bad_paths_say_what_is_wrong(path, reason):
    with pytest.raises(ArtifactPathError, match=reason):
        parse_artifact_path(path)


@pytest.mark.parametrize("spec, expected", [("v3", 3), ("3", 3), (7, 7), ("v12", 12)])
def test_versions(spec, expected):
    assert parse_version(spec) == expected


@pytest.mark.parametrize("spec", ["v0", "0", "03", "v", "latest!", "-1", "v1a"])
def test_bad_versions(spec):
    with pytest.raises(InvalidVersion, match="positive integer"):
        parse_version(spec)


def test_metadata_keeps_unknown_keys():
    meta = parse_metadata(
        b'{"description": "d", "tags": ["a"], "metrics": {"auc": 0.9},'
        b' "features": [{"name": "x", "dtype": "float64"}], "owner": "me"}'
    )
    assert meta.metrics == {"auc": 0.9}
    assert meta.model_extra == {"owner": "me"}


@pytest.mark.parametrize(
    "raw, reason",
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"tags": "a,b"}', "tags"),
        (b'{"metrics": {"auc": "high"}}', "metrics.auc"),
        (b'{"features": [{"dtype": "int64"}]}', "features.0.name"),
        (b'{"features": [3]}', "features.0"),
        (b'{"features": "a,b"}', "features"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_bad_metadata_says_what_is_wrong(raw, reason):
    with pytest.raises(MetadataError, match=reason):
        parse_metadata(raw)


SEED_METADATA = {  # what the seed's notebook writes (tests/seed/titanic-survival-example.ipynb)
    "model_name": "titanic-survival",
    "model_version": "v2",
    "model_type": "RandomForestClassifier",
    "training_date": "2026-01-05T10:00:00+00:00",
    "features": ["Pclass", "Sex", "Age", "SibSp", "Parch", "Fare"],
    "target": "Survived",
    "training_samples": 712,
    "test_samples": 179,
    "test_accuracy": 0.8212,
    "test_roc_auc": 0.8456,
    "hyperparameters": {"n_estimators": 100, "max_depth": 10},
    "gcs_path": "gs://mlsys-models-dev/titanic-survival/v2/",
}


def test_seed_metadata_is_normalised_and_keeps_its_keys():
    meta = parse_metadata(json.dumps(SEED_METADATA))
    assert [(f.name, f.dtype) for f in meta.features or []] == [
        (name, None) for name in SEED_METADATA["features"]
    ]
    assert meta.metrics == {"test_accuracy": 0.8212, "test_roc_auc": 0.8456}  # not the counts
    assert meta.params == SEED_METADATA["hyperparameters"]
    assert meta.target == "Survived"
    kept = {k: v for k, v in SEED_METADATA.items() if k not in ("features", "target")}
    assert meta.model_extra == kept


@pytest.mark.parametrize(
    "body, metrics",
    [
        ({"cv_accuracy": 0.8, "train_rows": 10, "training_samples": 3}, {"cv_accuracy": 0.8}),
        ({"holdout_f1": 1, "accuracy": 0.9, "test_flag": True}, {"holdout_f1": 1.0}),
        ({"test_accuracy": "0.8"}, {}),  # not a number: kept, not a metric
        # an explicit metrics object wins over a top-level key of the same name
        (
            {"metrics": {"test_accuracy": 0.7}, "test_accuracy": 0.9, "test_auc": 0.6},
            {"test_accuracy": 0.7, "test_auc": 0.6},
        ),
    ],
)
def test_top_level_metrics_are_split_prefixed_numbers(body, metrics):
    assert parse_metadata(json.dumps(body)).metrics == metrics
