"""Pure pieces of the pipeline, no emulator: features, output columns, sources, sinks."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from mlsys.errors import (
    FeatureTypeError,
    InvalidInput,
    InvalidTableId,
    MissingFeatures,
    SchemaMismatch,
)
from mlsys.examples import titanic
from mlsys.identifiers import TableRef
from mlsys.predict.features import check_input, model_input, plan_features
from mlsys.predict.output import check_id_columns, plan_output, probability_columns
from mlsys.predict.sources import MemorySource, rebatch
from mlsys.predict.staging import MemorySink
from mlsys.predict.stream import predict_stream

SCHEMA = pa.schema([("id", pa.int64()), ("a", pa.float64()), ("b", pa.string())])


def test_probability_columns_are_safe_and_unique():
    assert probability_columns(np.array([0, 1])) == ("probability",)
    assert probability_columns(np.array(["a b", "a-b", "1"])) == (
        "probability_a_b",
        "probability_a_b_2",
        "probability_1",
    )


def test_features_from_metadata_keep_its_order_and_types():
    plan = plan_features(LinearRegression(), {"features": ["b", "a"]})
    assert plan.names == ["b", "a"]
    with pytest.raises(FeatureTypeError, match="b \\(expected a number, found string\\)"):
        check_input(SCHEMA, plan)  # a bare estimator takes numbers only
    typed = plan_features(LinearRegression(), {"features": [{"name": "a", "dtype": "object"}]})
    with pytest.raises(FeatureTypeError, match="a \\(expected a string"):
        check_input(SCHEMA, typed)  # the metadata's dtype is the contract


def test_missing_features_are_named():
    plan = plan_features(LinearRegression(), {"features": ["a", "zz", "yy"]})
    with pytest.raises(MissingFeatures, match="zz, yy"):
        check_input(SCHEMA, plan)


def test_a_model_without_feature_names_needs_metadata():
    model = LinearRegression().fit(np.ones((3, 2)), [1, 2, 3])
    with pytest.raises(SchemaMismatch, match=r"metadata\.json"):
        plan_features(model, None)


def test_nulls_become_nan_in_matrix_and_frame():
    batch = pa.record_batch({"a": pa.array([1, None], pa.int64()), "b": ["x", None]})
    matrix = model_input(batch, plan_features(LinearRegression(), {"features": ["a"]}))
    assert np.isnan(matrix[1, 0])
    df = titanic.load_csv()
    pipe = titanic.build_pipeline().fit(df[titanic.FEATURES], df[titanic.TARGET])
    raw = pa.RecordBatch.from_pandas(df[titanic.FEATURES].head(3).assign(Embarked=None))
    frame = model_input(raw, plan_features(pipe, None))
    assert isinstance(frame, pd.DataFrame) and frame["Embarked"].isna().all()
    assert len(pipe.predict(frame)) == 3


@pytest.mark.parametrize("ids", [["job_id"], ["prediction"], ["nope"], ["a b"], ["id", "a", "id"]])
def test_bad_id_columns(ids):
    model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    with pytest.raises(InvalidInput):
        plan_output(
            input_schema=SCHEMA.append(pa.field("job_id", pa.string())),
            id_columns=ids,
            model=model,
            model_name="m",
            model_version=1,
            job_id="j",
        )


@pytest.mark.parametrize(
    ("ids", "words"),
    [
        (["id", "a", "id", "a"], "column(s) a, id named more than once"),
        (["model_version"], "clashes with an output column"),
        ("id", "expected a list"),
        (["a-b"], "invalid column name"),
    ],
)
def test_id_columns_are_checked_before_anything_is_read(ids, words):
    with pytest.raises(InvalidInput, match=re.escape(words)):
        check_id_columns(ids)
    assert check_id_columns(["id", "a"]) == ["id", "a"]


@pytest.mark.parametrize(
    ("table", "suffix", "ok"),
    [
        ("o" * 1000, "__staging_" + "j" * 14, True),  # exactly 1024
        ("o" * 1000, "__staging_" + "j" * 15, False),
        ("o" * 1024, "__job_j_publish", False),  # cutting would make it the output itself
    ],
)
def test_a_jobs_table_name_is_refused_rather_than_cut(table, suffix, ok):
    output = TableRef("p-roject", "d", table)
    if ok:
        assert output.derived(suffix).table == table + suffix
    else:
        with pytest.raises(InvalidTableId, match="at most"):
            output.derived(suffix)


def test_rebatch_makes_even_chunks():
    batches = [pa.record_batch({"x": list(range(n))}) for n in (3, 0, 5, 1, 7)]
    assert [b.num_rows for b in rebatch(iter(batches), 4)] == [4, 4, 4, 4]


def test_in_memory_stream_matches_predict():
    rng = np.random.default_rng(0)
    table = pa.table({"id": np.arange(1000), "a": rng.random(1000), "b": ["s"] * 1000})
    model = LogisticRegression().fit(table.select(["a"]).to_pandas(), rng.integers(0, 2, 1000))
    plan = plan_features(model, None)
    output = plan_output(
        input_schema=table.schema,
        id_columns=["id"],
        model=model,
        model_name="m",
        model_version=3,
        job_id="j",
    )
    sink = MemorySink()
    result = predict_stream(
        model=model,
        features=plan,
        output=output,
        source=MemorySource(table, chunk_rows=128),
        sink=sink,
    )
    assert result.rows_written == 1000
    got = sink.table.to_pandas()
    np.testing.assert_allclose(
        got["probability"], model.predict_proba(table.select(["a"]).to_pandas())[:, 1]
    )
    assert got["id"].tolist() == list(range(1000))
