"""In-warehouse prediction: ONNX conversion (skl2onnx, ZipMap off) and the BigQuery ML SQL.

BigQuery ML itself cannot run here (the emulator has no CREATE MODEL): the tests pin the
conversion against scikit-learn with onnxruntime, the upload into the emulated bucket and the
printed statements; ``--run`` is refused on the emulator.
"""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression
from typer.testing import CliRunner

from mlsys.bq import bq_put
from mlsys.bqml import export_bqml, export_path, predict_sql, run_bqml, to_onnx
from mlsys.errors import ConfigError, InvalidTableId
from mlsys.examples import titanic
from mlsys.gcs import gcs_get
from mlsys.identifiers import parse_table_id
from mlsys.predict.features import plan_features
from mlsys.registry import list_versions
from tests.predict.helpers import numeric_frame, publish


def _run_onnx(data: bytes, frame: pd.DataFrame) -> list[np.ndarray]:
    """Feed ONNX the way ML.PREDICT's SELECT does: floats (NULL -> NaN), strings (NULL -> '')."""
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    feed = {}
    for spec in session.get_inputs():
        column = frame[spec.name]
        if spec.type == "tensor(string)":
            values = column.astype(object).where(column.notna(), "").to_numpy()
        else:
            values = column.to_numpy(np.float32, na_value=np.nan)
        feed[spec.name] = values.reshape(-1, 1)
    return session.run(None, feed)


@pytest.fixture(scope="module")
def titanic_model():
    df = titanic.load_csv()
    train, _ = titanic.split(df)
    model = titanic.build_pipeline().fit(train[titanic.FEATURES], train[titanic.TARGET])
    return model, df


def test_titanic_onnx_predictions_match_scikit_learn(titanic_model):
    model, df = titanic_model
    plan = plan_features(model, {"features": titanic.feature_schema(df)})
    label, proba = _run_onnx(to_onnx(model, plan), df)  # every row, NULL Age/Embarked too
    assert isinstance(proba, np.ndarray) and proba.shape == (len(df), 2)  # no ZipMap
    np.testing.assert_allclose(proba, model.predict_proba(df[titanic.FEATURES]), atol=1e-5)
    assert (label == model.predict(df[titanic.FEATURES])).mean() == 1.0


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_bare_estimators_get_one_input_per_column(kind):
    frame = numeric_frame(200, seed=2)
    x, y = frame[["f0", "f1", "f2", "f3"]], (frame["f0"] > frame["f1"]).astype(int)
    model = (
        RandomForestClassifier(n_estimators=5, random_state=0)
        if kind == "classifier"
        else LinearRegression()
    ).fit(x.to_numpy(), y)
    plan = plan_features(model, {"features": list(x.columns)})
    outputs = _run_onnx(to_onnx(model, plan), x)
    if kind == "classifier":
        np.testing.assert_allclose(outputs[1], model.predict_proba(x.to_numpy()), atol=1e-5)
    else:
        np.testing.assert_allclose(outputs[0].ravel(), model.predict(x.to_numpy()), atol=1e-4)


def test_sql_quotes_only_validated_names():
    model = parse_table_id("p-roject.mlsys_dev.titanic_survival_v3")
    table = parse_table_id("p-roject.data.passengers")
    plan = plan_features(
        object(),
        {"features": [{"name": "Age", "dtype": "float64"}, {"name": "Sex", "dtype": "object"}]},
    )
    sql = predict_sql(model, table, plan, ["PassengerId"])
    assert "IFNULL(CAST(`Sex` AS STRING), '') AS `Sex`" in sql
    assert "IFNULL(CAST(`Age` AS FLOAT64), CAST('NaN' AS FLOAT64)) AS `Age`" in sql
    assert "`PassengerId`" in sql and "FROM `p-roject.data.passengers`" in sql
    with pytest.raises(InvalidTableId):
        parse_table_id("data.passengers`; DROP TABLE x; --")


def test_export_uploads_outside_the_contract_and_prints_statements(
    stack, titanic_model, dev_dataset, dev_bucket
):
    model, df = titanic_model
    table = f"{dev_dataset}.titanic_bqml"
    bq_put(df, table, "WRITE_TRUNCATE")
    mv = publish(model, metadata={"features": titanic.feature_schema(df), "training_data": table})
    export = export_bqml("dev", mv.model_name, "latest")
    path = export_path(mv.model_name, 1)
    assert export.onnx_uri == f"gs://{dev_bucket}/{path}" and path.endswith("/exports/bqml.onnx")
    label, _ = _run_onnx(gcs_get(dev_bucket, path), df)
    assert (label == model.predict(df[titanic.FEATURES])).all()
    model_id = f"{dev_dataset}.{mv.model_name.replace('-', '_')}_v1"
    assert export.create_model_sql == (
        f"CREATE OR REPLACE MODEL `{model_id}`\n"
        f"OPTIONS (MODEL_TYPE = 'ONNX', MODEL_PATH = '{export.onnx_uri}')"
    )
    assert f"MODEL `{model_id}`" in export.predict_sql and f"FROM `{table}`" in export.predict_sql
    assert "`PassengerId`" in export.predict_sql and "`Survived`" in export.predict_sql
    assert [v.model_version for v in list_versions("dev", mv.model_name)] == [1]
    with pytest.raises(ConfigError, match="real BigQuery"):
        run_bqml(export)


def test_cli_prints_the_statements(stack, titanic_model, dev_dataset):
    from mlsys.cli import _register, app

    model, df = titanic_model
    table = f"{dev_dataset}.titanic_bqml_cli"
    bq_put(df, table, "WRITE_TRUNCATE")
    mv = publish(model, metadata={"features": titanic.feature_schema(df)})
    _register()
    result = CliRunner().invoke(
        app, ["export-bqml", mv.model_name, "v1", "--env", "dev", "--input", table]
    )
    assert result.exit_code == 0, result.output
    assert "MODEL_TYPE = 'ONNX'" in result.output and "ML.PREDICT" in result.output
    assert json.dumps(table)[1:-1] in result.output
