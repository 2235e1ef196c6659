"""``POST /models/{name}/versions/{version}:predict`` on the local stack: the real function
registers the models, the stack's uvicorn serves them, answers are checked against the same
models in memory."""

from __future__ import annotations

import json
import threading
import uuid

import numpy as np
import pytest

from mlsys.bq import bq_put
from mlsys.bqml import export_bqml, export_path
from mlsys.gcs import gcs_get
from mlsys.predict.onnx import load_onnx
from mlsys.registry.aliases import set_aliases
from tests.online.conftest import rows_of, wait_for_export
from tests.predict.helpers import publish

RUNTIME = "x-mlsys-runtime"


def predict_path(name: str, version: str = "v1") -> str:
    return f"/models/{name}/versions/{version}:predict"


def test_the_demo_model_answers_as_in_memory(http, titanic_name, titanic_trained):
    frame = titanic_trained.rows  # every test row, NULL Age and Embarked included
    response = http.post(predict_path(titanic_name), json={"instances": rows_of(frame)})
    assert response.status_code == 200, response.text
    body = response.json()
    model = titanic_trained.model
    assert body["model_version"] == 1 and body["classes"] == [0, 1]
    assert body["predictions"] == model.predict(frame).tolist()
    np.testing.assert_allclose(body["probabilities"], model.predict_proba(frame), atol=1e-6)
    assert response.headers[RUNTIME] == "sklearn"  # no ONNX export of this version


def test_the_column_form_gives_the_same_answer(http, titanic_name, titanic_trained):
    frame = titanic_trained.rows.iloc[:20]
    rows = rows_of(frame)
    columns = list(reversed(frame.columns))
    data = [[row[c] for c in columns] for row in rows]
    by_columns = http.post(predict_path(titanic_name), json={"columns": columns, "data": data})
    by_rows = http.post(predict_path(titanic_name), json={"instances": rows})
    assert by_columns.status_code == 200, by_columns.text
    assert by_columns.json() == by_rows.json()


@pytest.mark.parametrize("version", ["v1", "1", "latest", "champion"])
def test_every_version_spec_resolves(http, titanic_name, titanic_trained, version):
    if version == "champion":
        set_aliases("dev", titanic_name, {"champion": 1}, reason="test")
    row = rows_of(titanic_trained.rows.iloc[:1])
    response = http.post(predict_path(titanic_name, version), json={"instances": row})
    assert response.status_code == 200, response.text
    assert response.json()["model_version"] == 1


@pytest.fixture(scope="module")
def forest_name(stack, settings, forest):
    """The forest as v1 with its BigQuery ML export registered before any request."""
    name = f"online-forest-{uuid.uuid4().hex[:8]}"
    publish(forest.model, metadata=forest.metadata, name=name)
    table = f"{settings.dataset_ref('dev')}.online_forest_{name[-8:]}"
    bq_put(forest.rows, table, "WRITE_TRUNCATE")
    export_bqml("dev", name, 1, input_table=table)
    wait_for_export(name, 1)
    return name


def test_a_numeric_model_is_served_by_its_onnx_export_after_the_trial(
    http, forest_name, forest, settings
):
    x = forest.rows
    trial = x.iloc[:40]  # more than MLSYS_ONLINE_ONNX_TRIAL_ROWS (32): the trial ends here
    first = http.post(predict_path(forest_name), json={"instances": rows_of(trial)})
    assert first.status_code == 200, first.text
    assert first.headers[RUNTIME] == "sklearn"  # the artifact answers during the trial
    np.testing.assert_allclose(
        first.json()["probabilities"], forest.model.predict_proba(trial.to_numpy()), atol=1e-6
    )
    status = {m["model_name"]: m for m in http.get("/online/models").json()}[forest_name]
    assert status["candidate"] == "onnx" and status["runtime"] == "onnx", status["decision"]
    assert "agreed on 40 rows" in status["decision"]

    rest = x.iloc[40:140]
    later = http.post(predict_path(forest_name), json={"instances": rows_of(rest)})
    assert later.headers[RUNTIME] == "onnx"
    onnx_model = load_onnx(gcs_get(settings.bucket_for("dev"), export_path(forest_name, 1)))
    labels, proba = onnx_model.predict_with_proba(rest)  # the same runtime, in memory
    assert later.json()["predictions"] == labels.tolist()
    np.testing.assert_allclose(later.json()["probabilities"], proba, atol=1e-6)
    assert labels.tolist() == forest.model.predict(rest.to_numpy()).tolist()


def test_an_onnx_artifact_is_served_by_onnxruntime(http, forest_name, forest, settings):
    data = gcs_get(settings.bucket_for("dev"), export_path(forest_name, 1))
    name = f"online-onnx-{uuid.uuid4().hex[:8]}"
    publish(data, fmt="onnx", metadata=forest.metadata, name=name)
    rows = forest.rows.iloc[:25]
    response = http.post(predict_path(name), json={"instances": rows_of(rows)})
    assert response.status_code == 200, response.text
    assert response.headers[RUNTIME] == "onnx"
    labels, proba = load_onnx(data).predict_with_proba(rows)
    assert response.json()["predictions"] == labels.tolist()
    np.testing.assert_allclose(response.json()["probabilities"], proba, atol=1e-6)


ROW = {
    "Pclass": 3,
    "Age": 22.0,
    "SibSp": 1,
    "Parch": 0,
    "Fare": 7.25,
    "Sex": "male",
    "Embarked": "S",
}
BAD_BODIES = [
    # (what, version, body bytes or JSON, query, status, error code, text in the message)
    ("not json", "v1", b"{instances", {}, 400, "INVALID_BODY", "not JSON"),
    ("an array", "v1", [ROW], {}, 400, "INVALID_BODY", "JSON array"),
    ("no instances", "v1", {"rows": [ROW]}, {}, 400, "INVALID_BODY", "no 'instances'"),
    ("instances an object", "v1", {"instances": ROW}, {}, 400, "INVALID_BODY", "JSON object"),
    ("no rows", "v1", {"instances": []}, {}, 400, "INVALID_BODY", "no instances"),
    ("a row not an object", "v1", {"instances": [1]}, {}, 400, "INVALID_BODY", "instances[0]"),
    ("columns without data", "v1", {"columns": ["Age"]}, {}, 400, "INVALID_BODY", "'data'"),
    (
        "a short row",
        "v1",
        {"columns": list(ROW), "data": [[1]]},
        {},
        400,
        "INVALID_BODY",
        "data[0] has 1 values",
    ),
    (
        "a column twice",
        "v1",
        {"columns": ["Age", "Age"], "data": [[1, 2]]},
        {},
        400,
        "INVALID_BODY",
        "Age more than once",
    ),
    (
        "a missing feature",
        "v1",
        {"instances": [{k: v for k, v in ROW.items() if k != "Age"}]},
        {},
        422,
        "INVALID_INSTANCES",
        "'Age': missing",
    ),
    (
        "a misspelt feature",
        "v1",
        {"instances": [{**{k: v for k, v in ROW.items() if k != "Age"}, "age": 3}]},
        {},
        422,
        "INVALID_INSTANCES",
        "(found 'age')",
    ),
    (
        "text for a number",
        "v1",
        {"instances": [{**ROW, "Fare": "cheap"}]},
        {},
        422,
        "INVALID_INSTANCES",
        "'Fare': expected a number, found string",
    ),
    (
        "a number for text",
        "v1",
        {"instances": [{**ROW, "Sex": 1}]},
        {},
        422,
        "INVALID_INSTANCES",
        "'Sex': expected a string, found number",
    ),
    (
        "a boolean for a number",
        "v1",
        {"instances": [{**ROW, "Pclass": True}]},
        {},
        422,
        "INVALID_INSTANCES",
        "'Pclass': expected a number, found boolean",
    ),
    (
        "a nested value",
        "v1",
        {"instances": [{**ROW, "Age": {"years": 3}}]},
        {},
        422,
        "INVALID_INSTANCES",
        "'Age': expected a single value",
    ),
    (
        "infinity",
        "v1",
        json.dumps({"instances": [{**ROW, "Fare": float("inf")}]}).encode(),
        {},
        422,
        "INVALID_INSTANCES",
        "'Fare': expected a finite number",
    ),
    (
        "too many instances",
        "v1",
        {"instances": [ROW] * 1001},
        {},
        413,
        "TOO_MANY_INSTANCES",
        "at most 1000",
    ),
    (
        "an unknown alias",
        "nope",
        {"instances": [ROW]},
        {},
        404,
        "VERSION_NOT_FOUND",
        "unknown version 'nope'",
    ),
    (
        "a version that does not exist",
        "v99",
        {"instances": [ROW]},
        {},
        404,
        "VERSION_NOT_FOUND",
        "no version v99",
    ),
    ("a malformed version", "v01", {"instances": [ROW]}, {}, 400, "INVALID_VERSION", "'v01'"),
    (
        "an unknown environment",
        "v1",
        {"instances": [ROW]},
        {"env": "qa"},
        400,
        "INVALID_ENVIRONMENT",
        "unknown environment 'qa'",
    ),
]


@pytest.mark.parametrize(
    ("version", "body", "query", "status", "code", "text"),
    [case[1:] for case in BAD_BODIES],
    ids=[case[0] for case in BAD_BODIES],
)
def test_bad_requests_get_a_4xx_naming_the_problem(
    http, titanic_name, version, body, query, status, code, text
):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = http.post(
        predict_path(titanic_name, version),
        content=content,
        params=query or None,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == status, response.text
    error = response.json()
    assert error["error"] == code and text in error["message"], error


@pytest.mark.parametrize(
    ("path", "status", "code", "text"),
    [
        ("/models/no-such-model/versions/v1:predict", 404, "MODEL_NOT_FOUND", "no-such-model"),
        ("/models/Bad_Name/versions/v1:predict", 400, "INVALID_ARTIFACT_PATH", "Bad_Name"),
    ],
)
def test_unknown_or_malformed_model_names(http, path, status, code, text):
    response = http.post(path, json={"instances": [ROW]})
    assert response.status_code == status and response.json()["error"] == code
    assert text in response.json()["message"]


def test_a_body_larger_than_the_limit_is_refused_before_it_is_read(http, titanic_name):
    response = http.post(predict_path(titanic_name), content=b" " * (10 * 1024 * 1024 + 1))
    assert response.status_code == 413, response.text
    assert "at most 10485760" in response.json()["message"]


def test_a_burst_on_a_cold_model_loads_it_once_and_answers_each_request(
    http, stack, titanic_trained
):
    name = f"online-burst-{uuid.uuid4().hex[:8]}"
    publish(titanic_trained.model, metadata=titanic_trained.metadata, name=name)
    frame, clients = titanic_trained.rows, 32
    start = threading.Barrier(clients)
    answers: dict[int, object] = {}

    def one(i: int) -> None:
        rows = frame.iloc[i * 5 : i * 5 + 5]  # distinct rows: a mix-up would show
        start.wait()
        answers[i] = http.post(predict_path(name), json={"instances": rows_of(rows)})

    threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i, response in answers.items():
        assert response.status_code == 200, response.text
        expected = titanic_trained.model.predict_proba(frame.iloc[i * 5 : i * 5 + 5])
        np.testing.assert_allclose(response.json()["probabilities"], expected, atol=1e-6)
    status = {m["model_name"]: m for m in http.get("/online/models").json()}[name]
    assert status["loads"] == 1 and status["requests"] == clients
    assert status["batches"] < clients  # requests that waited were scored together
