"""Profiles: fixed bins chosen by the reference, counts that add up across shards."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from mlsys.errors import InvalidInput
from mlsys.monitoring.profile import (
    OTHER,
    Histogram,
    Profile,
    count_numeric,
    histogram_of,
    quantile_edges,
)
from mlsys.monitoring.reference import build_reference


def frame(n: int = 1000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.normal(40, 10, n),
            "kids": rng.integers(0, 3, n),
            "city": rng.choice(["paris", "lyon", "nice"], n, p=[0.6, 0.3, 0.1]).astype(object),
        }
    )


@pytest.mark.parametrize(
    ("values", "edges", "counts", "nulls"),
    [
        ([1.0, 2.0, 3.0, 4.0], [2.0, 3.0], [2, 1, 1], 0),  # right-closed: 2 in bin 0, 3 in bin 1
        ([np.nan, 5.0, np.nan], [2.0], [0, 1], 2),  # NaN counted apart
        ([-1e9, 1e9], [0.0], [1, 1], 0),  # the outer bins are open-ended
        ([7.0, 7.0], [], [2], 0),  # no edges: one bin
    ],
)
def test_numeric_counts_fall_in_right_closed_bins(values, edges, counts, nulls):
    got, got_nulls = count_numeric(np.asarray(values), np.asarray(edges))
    assert (got.tolist(), got_nulls) == (counts, nulls)


def test_quantile_edges_are_unique_for_discrete_values():
    assert quantile_edges(np.asarray([1.0, 1, 1, 2, 2, 3, np.nan])) == [1.0, 2.0, 3.0]
    assert quantile_edges(np.asarray([np.nan])) == []


def test_categorical_values_outside_the_reference_land_in_other():
    reference = histogram_of(pa.array(["a", "a", "b", None]), "categorical")
    assert (reference.categories, reference.counts, reference.nulls) == (["a", "b"], [2, 1, 0], 1)
    later = histogram_of(pa.array(["b", "z", "z", None, None]), "categorical", like=reference)
    assert (later.counts, later.nulls) == ([0, 1, 2], 2)
    assert later.labels() == ["a", "b", "other"] and OTHER == "__other__"


def test_reference_profiles_features_and_the_models_predictions():
    x = frame()
    y = (x["age"] > 40).astype(int)
    model = LogisticRegression().fit(x[["age", "kids"]], y)
    profile = build_reference(model, x[["age", "kids"]])
    assert profile.rows == 1000
    assert [h.kind for h in profile.features.values()] == ["numeric", "numeric"]
    assert len(profile.features["age"].edges) == 9  # ten quantile bins
    assert profile.features["kids"].edges == [0.0, 1.0, 2.0]
    assert profile.prediction is not None and profile.prediction.categories == ["0", "1"]
    assert sum(profile.prediction.counts) == 1000


def test_a_regressors_predictions_are_profiled_over_quantile_bins():
    x = frame()[["age", "kids"]]
    model = LinearRegression().fit(x, x["age"] * 2)
    profile = build_reference(model, x)
    assert profile.prediction is not None and profile.prediction.kind == "numeric"
    assert len(profile.prediction.edges) == 9


def test_profiles_of_shards_merge_into_the_profile_of_the_whole():
    x = frame(3000)
    reference = Profile(
        3000,
        {
            name: histogram_of(pa.array(x[name]), kind)
            for name, kind in [("age", "numeric"), ("kids", "numeric"), ("city", "categorical")]
        },
    )

    def profile_of(part: pd.DataFrame) -> Profile:
        return Profile(
            len(part),
            {
                n: histogram_of(pa.array(part[n]), h.kind, like=h)
                for n, h in reference.features.items()
            },
        )

    shards = [profile_of(x.iloc[i::3]) for i in range(3)]
    merged = shards[0].merge(shards[1]).merge(shards[2])
    assert merged.to_json() == profile_of(x).to_json()


def test_histograms_over_different_bins_do_not_merge():
    a = Histogram("numeric", [1, 1], edges=[0.0])
    with pytest.raises(InvalidInput, match="different bins"):
        a.add(Histogram("numeric", [1, 1], edges=[1.0]))


def test_profile_json_round_trips():
    x = frame()
    model = LogisticRegression().fit(x[["age", "kids"]], (x["kids"] > 0).astype(int))
    text = build_reference(model, x[["age", "kids"]]).to_json()
    assert Profile.from_json(text).to_json() == text


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("not json", "not valid JSON"),
        ('{"rows": 1}', "not an mlsys profile"),
        (
            '{"format": "mlsys-profile/1", "features": {"a": {"kind": "numeric", "counts": [1]'
            ', "edges": [1.0]}}}',
            "one count more",
        ),
    ],
)
def test_invalid_profiles_are_refused_with_the_reason(raw, message):
    with pytest.raises(InvalidInput, match=message):
        Profile.from_json(raw)
