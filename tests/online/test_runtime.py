"""A served version: batched scoring, errors kept to their request, the ONNX trial."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from mlsys.bqml import to_onnx
from mlsys.errors import PredictionFailed
from mlsys.examples import titanic
from mlsys.online.instances import Instances
from mlsys.online.runtime import Runtime, ServedModel
from mlsys.predict.features import plan_features
from mlsys.predict.onnx import load_onnx


@pytest.fixture(scope="module")
def titanic_data():
    df = titanic.load_csv()
    train, test = titanic.split(df)
    model = titanic.build_pipeline().fit(train[titanic.FEATURES], train[titanic.TARGET])
    meta = {"features": titanic.feature_schema(df)}
    onnx_model = load_onnx(to_onnx(model, plan_features(model, meta)))
    return model, onnx_model, meta, test[titanic.FEATURES]


def instances(frame: pd.DataFrame) -> Instances:
    columns = {
        name: [None if pd.isna(v) else (float(v) if not isinstance(v, str) else v) for v in col]
        for name, col in frame.items()
    }
    return Instances(columns, len(frame))


def served(model, meta, candidate=None, trial_rows=8) -> ServedModel:
    return ServedModel(
        model_name="m",
        version=3,
        primary=Runtime("sklearn", model, meta),
        candidate=None if candidate is None else Runtime("onnx", candidate, meta),
        trial_rows=trial_rows,
        tolerance=1e-5,
    )


def test_requests_scored_together_get_what_each_would_get_alone(titanic_data):
    model, _, meta, rows = titanic_data
    parts = [instances(rows.iloc[i : i + n]) for i, n in ((0, 1), (1, 5), (6, 30))]
    together = served(model, meta).score_many(parts)
    for part, answer, start in zip(parts, together, (0, 1, 6), strict=True):
        expected = model.predict_proba(rows.iloc[start : start + part.count])
        np.testing.assert_allclose(answer.probabilities, expected, atol=1e-12)
        assert answer.predictions == model.predict(rows.iloc[start : start + part.count]).tolist()
        assert answer.model_version == 3 and answer.classes == [0, 1]


def test_a_request_the_model_cannot_score_fails_alone_naming_its_nulls():
    x = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    model = LogisticRegression().fit(x, [0, 1, 0, 1])  # no imputer: NaN is refused
    model_served = served(model, {"features": ["a", "b"]})
    good = Instances({"a": [1.0], "b": [0.0]}, 1)
    bad = Instances({"a": [None], "b": [0.0]}, 1)
    answers = model_served.score_many([good, bad, good])
    assert answers[0].predictions == answers[2].predictions == model.predict(x.iloc[[1]]).tolist()
    assert isinstance(answers[1], PredictionFailed)
    assert "null values in: a" in answers[1].message and answers[1].details == {"fields": ["a"]}


def test_the_onnx_export_is_chosen_after_agreeing_and_beating_scikit_learn(titanic_data):
    model, onnx_model, meta, rows = titanic_data
    model_served = served(model, meta, onnx_model, trial_rows=8)
    assert model_served.runtime == "sklearn"
    first = model_served.score_many([instances(rows.iloc[:8])])[0]  # the trial: both run
    np.testing.assert_array_equal(first.probabilities, model.predict_proba(rows.iloc[:8]))
    assert first.runtime == "sklearn"  # the artifact answers during the trial
    assert model_served.runtime == "onnx", model_served.decision
    assert "agreed on 8 rows" in model_served.decision
    later = model_served.score_many([instances(rows.iloc[8:40])])[0]
    assert later.runtime == "onnx"
    _, expected = onnx_model.predict_with_proba(rows.iloc[8:40])  # the same runtime: equal
    np.testing.assert_allclose(later.probabilities, expected, atol=1e-6)
    np.testing.assert_allclose(later.probabilities, model.predict_proba(rows.iloc[8:40]), atol=1e-5)


def test_an_export_that_disagrees_is_never_served(titanic_data):
    model, _, meta, rows = titanic_data
    df = titanic.load_csv()
    other = titanic.build_pipeline().fit(df[titanic.FEATURES], 1 - df[titanic.TARGET])
    wrong = load_onnx(to_onnx(other, plan_features(other, meta)))
    model_served = served(model, meta, wrong, trial_rows=4)
    model_served.score_many([instances(rows.iloc[:4])])
    assert model_served.runtime == "sklearn"
    assert "labels differ" in model_served.decision
    assert model_served.score_many([instances(rows.iloc[4:6])])[0].runtime == "sklearn"


def test_an_export_that_fails_is_never_served(titanic_data):
    model, _, meta, rows = titanic_data
    x = pd.DataFrame({"other": [0.0, 1.0]})
    unrelated = LogisticRegression().fit(x, [0, 1])
    broken = load_onnx(to_onnx(unrelated, plan_features(unrelated, {"features": ["other"]})))
    model_served = served(model, meta, broken, trial_rows=4)
    answer = model_served.score_many([instances(rows.iloc[:2])])[0]
    assert answer.runtime == "sklearn" and len(answer.predictions) == 2
    assert "the ONNX export failed" in model_served.decision


def test_no_trial_when_it_is_switched_off(titanic_data):
    model, onnx_model, meta, _ = titanic_data
    model_served = served(model, meta, onnx_model, trial_rows=0)
    assert model_served.runtime == "sklearn" and "not tried" in model_served.decision
