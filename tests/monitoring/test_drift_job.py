"""Drift per prediction job on the local stack: rows in prediction_drift after the publish, the
worst status on GET /jobs/{id}, and `mlsys monitor`."""

from __future__ import annotations

import httpx
import pytest
from sklearn.ensemble import RandomForestClassifier
from typer.testing import CliRunner

from mlsys.cli import _register, app
from mlsys.examples import titanic
from mlsys.gcs import gcs_put_pickle
from mlsys.monitoring.store import job_drift
from mlsys.predict import run_prediction
from mlsys.registry import wait_for_version
from tests.monitoring.conftest import log_and_wait
from tests.predict.flaky import FailsOnSecondChunk

SHIFTED = {"Age", "Fare"}


@pytest.fixture(scope="module")
def logged(titanic_tables, titanic_train, titanic_model):
    x, y = titanic_train
    return log_and_wait(
        titanic_model, "drift-titanic", x, y, training_table=titanic_tables["train"]
    )


def predict(tables, source: str, mv, unique: str, **kw):
    return run_prediction(
        env="dev",
        input_table=tables[source],
        output_table=f"{tables['out']}.drift_out_{unique}",
        model_name=mv.model_name,
        model_version=mv.version_label,
        **kw,
    )


def test_a_job_on_shifted_data_alerts_on_the_shifted_features_only(
    stack, titanic_tables, logged, unique
):
    job = predict(titanic_tables, "shifted", logged, unique, job_id=f"shifted-{unique}")
    rows = {r.feature: r for r in job_drift("dev", job.job_id)}
    assert set(rows) == {*titanic.FEATURES, "prediction"}
    assert {f for f, r in rows.items() if r.status == "alert"} >= SHIFTED
    assert all(rows[f].status == "ok" for f in set(titanic.FEATURES) - SHIFTED)
    assert all(
        r.rows == job.rows_written and r.model_version == logged.model_version
        for r in rows.values()
    )
    assert rows["Age"].psi > 1 and rows["Pclass"].psi < 0.1
    assert rows["prediction"].role == "prediction" and rows["Sex"].kind == "categorical"
    assert len(rows["Age"].labels) == len(rows["Age"].reference) == len(rows["Age"].current)
    # any instance of the service reports the worst status with the job
    response = httpx.get(
        f"{stack.env['MLSYS_SERVICE_URL']}/jobs/{job.job_id}", params={"env": "dev"}, timeout=60
    )
    assert response.status_code == 200 and response.json()["drift_status"] == "alert"
    drift = httpx.get(
        f"{stack.env['MLSYS_SERVICE_URL']}/jobs/{job.job_id}/drift",
        params={"env": "dev"},
        timeout=60,
    )
    assert {r["feature"]: r["status"] for r in drift.json()}["Fare"] == "alert"


def test_a_job_on_data_like_the_training_data_is_ok(titanic_tables, logged, unique):
    job = predict(titanic_tables, "test", logged, unique)
    statuses = {r.feature: r.status for r in job_drift("dev", job.job_id)}
    assert set(statuses) == {*titanic.FEATURES, "prediction"} and set(statuses.values()) == {"ok"}


def test_mlsys_monitor_shows_the_latest_jobs_per_feature(titanic_tables, logged, unique):
    predict(titanic_tables, "shifted", logged, unique)
    if not app.registered_groups:
        _register()
    result = CliRunner().invoke(app, ["monitor", "drift-titanic", "--env", "dev"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.split()}
    assert "alert" in lines["Age"] and "alert" in lines["Fare"]
    assert "ok" in lines["Pclass"] and "alert" not in lines["Pclass"]
    as_json = CliRunner().invoke(
        app, ["monitor", "drift-titanic", "--env", "dev", "--json", "--jobs", "1"]
    )
    assert as_json.exit_code == 0 and '"feature": "Fare"' in as_json.output


def test_a_version_without_a_profile_records_no_drift(
    stack, titanic_tables, titanic_model, model_name, unique
):
    gcs_put_pickle(titanic_model, "mlsys-models-dev", f"{model_name}/v1/model.pkl")
    mv = wait_for_version("dev", model_name, 1, timeout=60)
    job = predict(titanic_tables, "shifted", mv, unique)
    assert job.status == "succeeded" and job_drift("dev", job.job_id) == []
    response = httpx.get(
        f"{stack.env['MLSYS_SERVICE_URL']}/jobs/{job.job_id}", params={"env": "dev"}, timeout=60
    )
    assert response.json()["drift_status"] is None


def test_a_failed_job_records_no_drift(titanic_tables, titanic_train, model_name, unique):
    x, y = titanic_train
    flaky = FailsOnSecondChunk(
        RandomForestClassifier(n_estimators=3, random_state=0).fit(
            x[["Pclass", "SibSp", "Parch"]], y
        )
    )
    mv = log_and_wait(flaky, model_name, x[["Pclass", "SibSp", "Parch"]], y)
    job_id = f"failed-{unique}"
    with pytest.raises(RuntimeError, match="half-way"):
        predict(titanic_tables, "shifted", mv, unique, job_id=job_id, chunk_rows=50)
    assert job_drift("dev", job_id) == []
