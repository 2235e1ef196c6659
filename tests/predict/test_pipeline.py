"""The prediction pipeline end to end: registry -> verified model -> BigQuery -> BigQuery."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from google.api_core.exceptions import NotFound
from google.cloud import bigquery
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from mlsys.bq import bq_get, bq_put
from mlsys.clients import bigquery_client
from mlsys.errors import JobConflict, OutputSchemaMismatch, PredictionFailed
from mlsys.examples import titanic
from mlsys.predict import get_job, job_store, run_prediction
from mlsys.settings import get_settings
from tests.predict.flaky import FailsOnSecondChunk
from tests.predict.helpers import numeric_frame, publish

FEATURES = ["f0", "f1", "f2", "f3"]


def _train(n: int = 300) -> tuple[pd.DataFrame, np.ndarray]:
    x = numeric_frame(n, seed=1)[FEATURES]
    return x, (x["f0"] + x["f2"] > 1).astype(int).to_numpy()


def _out(dev_dataset: str, unique: str, stem: str = "out") -> str:
    return f"{dev_dataset}.{stem}_{unique}"


def _read(table: str) -> pd.DataFrame:
    return bq_get(f"SELECT * FROM `{table}` ORDER BY row_id").reset_index(drop=True)


def _predict(input_table: str, output_table: str, mv, **kw) -> object:
    return run_prediction(
        env="dev",
        input_table=input_table,
        output_table=output_table,
        model_name=mv.model_name,
        model_version=kw.pop("model_version", mv.version_label),
        **kw,
    )


def test_binary_classifier_writes_prediction_probability_and_provenance(
    numeric_table, dev_dataset, unique
):
    x, y = _train()
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(x, y)
    mv = publish(model)
    table, frame = numeric_table
    out = _out(dev_dataset, unique)
    record = _predict(table, out, mv, model_version="latest", job_id=f"bin-{unique}")
    assert (record.status, record.rows_done, record.rows_written) == ("succeeded", 200, 200)
    assert record.rows_total == 200 and record.model_version == 1
    got = _read(out)
    assert list(got.columns) == [
        "row_id",
        "prediction",
        "probability",
        "prediction_timestamp",
        "model_name",
        "model_version",
        "job_id",
    ]
    expected = model.predict_proba(frame[FEATURES])
    np.testing.assert_allclose(got["probability"], expected[:, 1])
    assert got["prediction"].tolist() == model.predict(frame[FEATURES]).tolist()  # NULLs too
    assert set(got["model_name"]) == {mv.model_name} and set(got["model_version"]) == {1}
    assert set(got["job_id"]) == {f"bin-{unique}"}
    assert get_job("dev", f"bin-{unique}").rows_written == 200


def test_multiclass_gets_one_safe_probability_column_per_class(numeric_table, dev_dataset, unique):
    x, _ = _train()
    labels = np.array(["low", "mid high", "top-1"])[np.digitize(x["f0"], [0.33, 0.66])]
    model = make_pipeline(SimpleImputer(), LogisticRegression(max_iter=500)).fit(x, labels)
    mv = publish(model, fmt="joblib")
    table, frame = numeric_table
    out = _out(dev_dataset, unique)
    _predict(table, out, mv, id_columns=["row_id"])
    got = _read(out)
    cols = ["probability_low", "probability_mid_high", "probability_top_1"]
    assert cols == [c for c in got.columns if c.startswith("probability")]
    np.testing.assert_allclose(got[cols].to_numpy(), model.predict_proba(frame[FEATURES]))
    assert got["prediction"].tolist() == model.predict(frame[FEATURES]).tolist()


def test_regressor_from_skops_with_features_from_metadata(numeric_table, dev_dataset, unique):
    x, _ = _train()
    model = HistGradientBoostingRegressor(max_iter=20).fit(x.to_numpy(), x["f0"] * 3)
    meta = {"features": [{"name": f, "dtype": "float64"} for f in FEATURES]}
    mv = publish(model, fmt="skops", metadata=meta)
    table, frame = numeric_table
    out = _out(dev_dataset, unique)
    _predict(table, out, mv)
    got = _read(out)
    assert "probability" not in got.columns
    np.testing.assert_allclose(got["prediction"], model.predict(frame[FEATURES].to_numpy()))


def test_titanic_pipeline_takes_raw_columns_with_nulls(stack, dev_dataset, unique):
    df = titanic.load_csv()
    assert df[titanic.FEATURES].isna().any().any()  # Age and Embarked have NULLs
    model = titanic.build_pipeline().fit(df[titanic.FEATURES], df[titanic.TARGET])
    mv = publish(model, metadata={"features": titanic.feature_schema(df)})
    table = f"{dev_dataset}.titanic_{unique}"
    bq_put(df.drop(columns=[titanic.TARGET]), table, "WRITE_TRUNCATE")
    out = _out(dev_dataset, unique)
    _predict(table, out, mv)
    got = bq_get(f"SELECT * FROM `{out}` ORDER BY PassengerId").reset_index(drop=True)
    assert {"PassengerId", "Name", "Ticket", "Cabin"} <= set(got.columns)  # ids by default
    assert "Age" not in got.columns  # features are not copied through
    expected = model.predict_proba(df.sort_values("PassengerId")[titanic.FEATURES])[:, 1]
    np.testing.assert_allclose(got["probability"], expected, rtol=1e-9)


def test_onnx_classifier(numeric_table, dev_dataset, unique):
    from skl2onnx import to_onnx

    x, y = _train()
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(x.to_numpy(), y)
    onx = to_onnx(model, x.to_numpy()[:1].astype(np.float32)).SerializeToString()
    mv = publish(onx, fmt="onnx", metadata={"features": FEATURES})
    table, frame = numeric_table
    out = _out(dev_dataset, unique)
    _predict(table, out, mv)
    got = _read(out)
    complete = frame[FEATURES].notna().all(axis=1)
    expected = model.predict(frame.loc[complete, FEATURES].to_numpy())
    agree = (got.loc[complete, "prediction"].to_numpy() == expected).mean()
    assert agree > 0.95 and got["probability"].between(0, 1).all()


def test_empty_input_creates_output_with_no_rows(dev_dataset, unique):
    x, y = _train()
    mv = publish(RandomForestClassifier(n_estimators=3).fit(x, y))
    table = f"{dev_dataset}.empty_{unique}"
    bq_put(numeric_frame(0), table, "WRITE_TRUNCATE")
    out = _out(dev_dataset, unique)
    record = _predict(table, out, mv)
    assert (record.status, record.rows_written) == ("succeeded", 0)
    schema = [f.name for f in bigquery_client().get_table(out).schema]
    assert schema[:3] == ["row_id", "prediction", "probability"]


def test_retried_job_id_does_not_duplicate_rows(numeric_table, dev_dataset, unique):
    x, y = _train()
    mv = publish(RandomForestClassifier(n_estimators=3).fit(x, y))
    table, _ = numeric_table
    out = _out(dev_dataset, unique)
    job_id = f"retry-{unique}"
    first = _predict(table, out, mv, job_id=job_id)
    again = _predict(table, out, mv, job_id=job_id)
    # the job's records are lost: the ledger's "published" fact still says "done"
    store = job_store("dev")
    bigquery_client().query(
        f"DELETE FROM `{store.table_id}` WHERE job_id = @j",
        job_config=bigquery.QueryJobConfig(
            query_parameters=[bigquery.ScalarQueryParameter("j", "STRING", job_id)]
        ),
    ).result()
    lost = _predict(table, out, mv, job_id=job_id)
    assert first.rows_written == again.rows_written == lost.rows_written == 200
    assert bq_get(f"SELECT COUNT(*) AS n FROM `{out}`")["n"].iloc[0] == 200
    with pytest.raises(JobConflict, match="already used"):
        _predict(table, f"{out}_other", mv, job_id=job_id)


def test_job_failing_half_way_leaves_no_rows(numeric_table, dev_dataset, unique):
    x, y = _train()
    model = FailsOnSecondChunk(RandomForestClassifier(n_estimators=3).fit(x, y))
    mv = publish(model)
    table, _ = numeric_table
    out = _out(dev_dataset, unique)
    job_id = f"fail-{unique}"
    with pytest.raises(RuntimeError, match="half-way"):
        _predict(table, out, mv, job_id=job_id, chunk_rows=50)
    with pytest.raises(NotFound):  # the output is created only at publish: no empty leftover
        bigquery_client().get_table(out)
    ops = get_settings().ops_dataset_ref("dev")
    tables = [t.table_id for t in bigquery_client().list_tables(ops)]
    assert not [t for t in tables if job_id in t]  # staging and claim tables are gone
    record = get_job("dev", job_id)
    assert record.status == "failed" and "half-way" in (record.error_message or "")


def test_truncate_replaces_the_output(numeric_table, dev_dataset, unique):
    x, y = _train()
    mv = publish(RandomForestClassifier(n_estimators=3).fit(x, y))
    table, _ = numeric_table
    out = _out(dev_dataset, unique)
    _predict(table, out, mv)
    _predict(table, out, mv)
    assert bq_get(f"SELECT COUNT(*) AS n FROM `{out}`")["n"].iloc[0] == 400
    _predict(table, out, mv, write_disposition="truncate")
    assert bq_get(f"SELECT COUNT(*) AS n FROM `{out}`")["n"].iloc[0] == 200


def test_incompatible_output_table_is_a_clear_error(numeric_table, dev_dataset, unique):
    x, y = _train()
    mv = publish(RandomForestClassifier(n_estimators=3).fit(x, y))
    out = _out(dev_dataset, unique)
    field = bigquery.SchemaField
    schema = [field("row_id", "INTEGER"), field("prediction", "STRING")]
    bigquery_client().create_table(bigquery.Table(out, schema=schema))
    with pytest.raises(OutputSchemaMismatch, match="prediction is STRING, expected INTEGER"):
        _predict(numeric_table[0], out, mv)


def test_model_that_rejects_nulls_is_a_422_not_a_crash(numeric_table, dev_dataset, unique):
    x, y = _train()
    mv = publish(LogisticRegression().fit(x, y))
    with pytest.raises(PredictionFailed, match="NaN"):
        _predict(numeric_table[0], _out(dev_dataset, unique), mv)
