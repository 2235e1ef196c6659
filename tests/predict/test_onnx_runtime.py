"""ONNX models behind the scikit-learn interface: missing strings reach the graph as ''."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mlsys.bqml import to_onnx
from mlsys.examples import titanic
from mlsys.predict.features import model_input, plan_features
from mlsys.predict.onnx import load_onnx


@pytest.mark.parametrize("missing", [None, np.nan, pd.NA])
def test_a_missing_string_is_imputed_like_scikit_learn(missing):
    df = titanic.load_csv()
    train, _ = titanic.split(df)
    model = titanic.build_pipeline().fit(train[titanic.FEATURES], train[titanic.TARGET])
    meta = {"features": titanic.feature_schema(df)}
    onnx_model = load_onnx(to_onnx(model, plan_features(model, meta)))
    row = {"Pclass": 1, "Age": 38.0, "SibSp": 0, "Parch": 0, "Fare": 80.0, "Sex": "female"}
    frame = pd.DataFrame([{**row, "Embarked": "S"}, {**row, "Embarked": "S"}])
    frame["Embarked"] = frame["Embarked"].astype(object)
    frame.loc[1, "Embarked"] = missing  # the imputer's most frequent value is "S"
    batch = pa.RecordBatch.from_pandas(frame, preserve_index=False)
    _, proba = onnx_model.predict_with_proba(model_input(batch, plan_features(onnx_model, meta)))
    expected = model.predict_proba(model_input(batch, plan_features(model, meta)))
    np.testing.assert_allclose(proba, expected, atol=1e-6)
    np.testing.assert_allclose(proba[1], proba[0], atol=1e-6)  # not an unknown "nan" category
