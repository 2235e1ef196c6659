"""Shadow scoring on the local stack: the challenger's rows in {output}__shadow with the same
ids, the comparison recorded with the job, and the same all-or-nothing publish."""

from __future__ import annotations

import httpx
import pytest
from google.api_core import exceptions as gexc
from sklearn.ensemble import RandomForestClassifier

from mlsys.bq import bq_get
from mlsys.clients import bigquery_client
from mlsys.errors import InvalidInput, VersionNotFound
from mlsys.monitoring.store import shadows
from mlsys.predict import run_prediction
from tests.monitoring.conftest import log_and_wait
from tests.predict.flaky import FailsOnSecondChunk


@pytest.fixture(scope="module")
def versions(titanic_tables, titanic_train, titanic_model):
    """v1: the logistic Pipeline; v2: a small forest on three columns (a real challenger)."""
    x, y = titanic_train
    cols = ["Pclass", "SibSp", "Parch"]
    forest = RandomForestClassifier(n_estimators=10, max_depth=3, random_state=0).fit(x[cols], y)
    v1 = log_and_wait(titanic_model, "shadow-titanic", x, y)
    v2 = log_and_wait(forest, "shadow-titanic", x[cols], y)
    return v1, v2, forest


def exists(table: str) -> bool:
    return any(
        t.table_id == table.rsplit(".", 1)[1]
        for t in bigquery_client().list_tables(table.rsplit(".", 1)[0])
    )


def test_a_shadow_job_writes_the_same_ids_and_records_the_agreement(
    stack, titanic_tables, titanic_train, titanic_model, versions, unique
):
    output = f"{titanic_tables['out']}.shadow_out_{unique}"
    job = run_prediction(
        env="dev",
        input_table=titanic_tables["test"],
        output_table=output,
        model_name="shadow-titanic",
        model_version="v1",
        id_columns=["PassengerId"],
        shadow_version="v2",
        job_id=f"shadow-{unique}",
    )
    main = bq_get(
        f"SELECT PassengerId, prediction, model_version FROM `{output}` ORDER BY PassengerId"
    )
    shadow = bq_get(
        "SELECT PassengerId, prediction, model_version, job_id "
        f"FROM `{output}__shadow` ORDER BY PassengerId"
    )
    assert (
        main["PassengerId"].tolist() == shadow["PassengerId"].tolist()
        and len(main) == job.rows_written
    )
    assert set(main["model_version"]) == {1} and set(shadow["model_version"]) == {2}
    assert set(shadow["job_id"]) == {job.job_id}
    expected = float((main["prediction"].to_numpy() == shadow["prediction"].to_numpy()).mean())
    (row,) = shadows("dev", job_ids=[job.job_id])
    assert (row.model_version, row.shadow_version, row.rows) == (1, 2, len(main))
    assert row.agreement_metric == "label_agreement"
    assert row.shadow_agreement == pytest.approx(expected, abs=1e-6) and 0 < expected < 1
    assert row.js_distance is not None and row.shadow_table == f"{output}__shadow"
    body = httpx.get(
        f"{stack.env['MLSYS_SERVICE_URL']}/jobs/{job.job_id}", params={"env": "dev"}, timeout=60
    ).json()
    assert body["shadow"]["shadow_agreement"] == pytest.approx(expected, abs=1e-6)
    assert body["shadow"]["shadow_version"] == 2


def test_a_shadow_job_through_the_service(stack, titanic_tables, versions, unique):
    output = f"{titanic_tables['out']}.shadow_api_{unique}"
    body = {
        "env": "dev",
        "input_table": titanic_tables["test"],
        "output_table": output,
        "model_name": "shadow-titanic",
        "model_version": "v1",
        "shadow_version": "2",
    }
    response = httpx.post(f"{stack.env['MLSYS_SERVICE_URL']}/predict", json=body, timeout=120)
    assert response.status_code == 200, response.text
    assert response.json()["shadow"]["shadow_version"] == 2
    n = bq_get(f"SELECT COUNT(*) AS n FROM `{output}__shadow`")["n"].iloc[0]
    assert n == response.json()["rows_written"]


@pytest.mark.parametrize(
    ("shadow_version", "error"), [("v9", VersionNotFound), ("v1", InvalidInput)]
)
def test_a_bad_shadow_version_is_refused_before_any_row_is_written(
    titanic_tables, versions, unique, shadow_version, error
):
    output = f"{titanic_tables['out']}.shadow_bad_{unique}"
    with pytest.raises(error):
        run_prediction(
            env="dev",
            input_table=titanic_tables["test"],
            output_table=output,
            model_name="shadow-titanic",
            model_version="v1",
            shadow_version=shadow_version,
        )
    assert not exists(output) and not exists(f"{output}__shadow")


def test_a_shadow_that_fails_half_way_publishes_neither_output(
    titanic_tables, titanic_train, titanic_model, model_name, unique
):
    x, y = titanic_train
    log_and_wait(titanic_model, model_name, x, y)
    cols = ["Pclass", "SibSp", "Parch"]
    flaky = FailsOnSecondChunk(
        RandomForestClassifier(n_estimators=3, random_state=0).fit(x[cols], y)
    )
    log_and_wait(flaky, model_name, x[cols], y)
    output = f"{titanic_tables['out']}.shadow_fail_{unique}"
    job_id = f"shadowfail-{unique}"
    with pytest.raises(RuntimeError, match="half-way"):
        run_prediction(
            env="dev",
            input_table=titanic_tables["test"],
            output_table=output,
            model_name=model_name,
            model_version="v1",
            shadow_version="v2",
            job_id=job_id,
            chunk_rows=50,
        )
    for table in (output, f"{output}__shadow"):  # created only at publish: neither exists
        with pytest.raises(gexc.NotFound):
            bigquery_client().get_table(table)
    leftovers = [
        t.table_id
        for t in bigquery_client().list_tables(titanic_tables["out"])
        if job_id in t.table_id
    ]
    assert leftovers == []  # both staging tables are gone
    assert shadows("dev", job_ids=[job_id]) == []
