"""``/predict`` and ``/jobs`` over HTTP: the running service, and a table of bad requests."""

from __future__ import annotations

import time

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.ensemble import RandomForestClassifier

from mlsys.bq import bq_get, bq_put
from service.main import create_app
from tests.predict.helpers import numeric_frame, publish


@pytest.fixture(scope="module")
def model(stack):
    x = numeric_frame(200, seed=3)[["f0", "f1", "f2", "f3"]]
    return publish(RandomForestClassifier(n_estimators=5).fit(x, x["f0"] > 0.5))


@pytest.fixture(scope="module")
def tables(stack, settings):
    ds = settings.dataset_ref("dev")
    frame = numeric_frame(100, seed=4)
    bq_put(frame, f"{ds}.api_in", "WRITE_TRUNCATE")
    bq_put(frame.drop(columns=["f1", "f3"]), f"{ds}.api_missing", "WRITE_TRUNCATE")
    bq_put(frame.assign(f2=frame["f2"].astype(str)), f"{ds}.api_strings", "WRITE_TRUNCATE")
    return ds


@pytest.fixture(scope="module")
def outputs(settings) -> str:
    """Outputs go to the predictions dataset: the service may write there, not the registry's."""
    return settings.predictions_dataset_ref("dev")


@pytest.fixture(scope="module")
def client(stack) -> TestClient:
    return TestClient(create_app())


@pytest.fixture(scope="module")
def service(settings) -> httpx.Client:
    """The service `mlsys local up` started under uvicorn (another instance than `client`)."""
    with httpx.Client(base_url=settings.service_url, timeout=60) as http:
        yield http


def test_post_predict_through_the_running_service(service, model, tables, outputs, unique):
    body = {
        "env": "dev",
        "input_table": f"{tables}.api_in",
        "output_table": f"{outputs}.api_out_{unique}",
        "model_name": model.model_name,
        "model_version": "v1",
        "job_id": f"api-{unique}",
    }
    first = service.post("/predict", json=body)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "succeeded" and first.json()["rows_written"] == 100
    again = service.post("/predict", json=body)
    assert again.json()["rows_written"] == 100
    n = bq_get(f"SELECT COUNT(*) AS n FROM `{outputs}.api_out_{unique}`")["n"].iloc[0]
    assert n == 100


def test_get_predict_stays_compatible_with_the_seed(service, model, tables, outputs, unique):
    params = {
        "env": "dev",
        "input_table": f"{tables}.api_in",
        "output_table": f"{outputs}.api_seed_{unique}",
        "model_name": model.model_name,
        "model_version": "1",
    }
    response = service.get("/predict", params=params)
    assert response.status_code == 200, response.text
    assert response.json()["model_version"] == 1


def test_async_job_is_followed_from_another_instance(
    service, client, model, tables, outputs, unique
):
    body = {
        "input_table": f"{tables}.api_in",
        "output_table": f"{outputs}.api_async_{unique}",
        "model_name": model.model_name,
        "async": True,
    }
    started = service.post("/predict", json=body)
    assert started.status_code == 202, started.text
    job_id = started.json()["job_id"]
    deadline = time.monotonic() + 30
    while True:  # read through the in-process app: the status is shared through BigQuery
        status = client.get(f"/jobs/{job_id}").json()
        if status["status"] != "running" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status["status"] == "succeeded", status
    assert status["rows_done"] == status["rows_written"] == status["rows_total"] == 100


BAD = [
    # (name, body changes, status, error code, words in the message)
    ("malformed input", {"input_table": "x; DROP TABLE y"}, 400, "INVALID_TABLE_ID", "malformed"),
    ("malformed output", {"output_table": "nodots"}, 400, "INVALID_TABLE_ID", "nodots"),
    ("no such input", {"input_table": "{ds}.nope"}, 404, "TABLE_NOT_FOUND", "nope"),
    ("no such model", {"model_name": "no-such-model"}, 404, "MODEL_NOT_FOUND", "no-such-model"),
    ("no such version", {"model_version": "v99"}, 404, "VERSION_NOT_FOUND", "v99"),
    ("unknown alias", {"model_version": "v-1"}, 404, "VERSION_NOT_FOUND", "v-1"),
    ("missing features", {"input_table": "{ds}.api_missing"}, 422, "MISSING_FEATURES", "f1, f3"),
    ("wrong dtypes", {"input_table": "{ds}.api_strings"}, 422, "FEATURE_TYPE_MISMATCH", "f2"),
    ("bad job id", {"job_id": "a b/c"}, 400, "INVALID_IDENTIFIER", "job_id"),
    ("bad disposition", {"write_disposition": "merge"}, 400, "INVALID_REQUEST", "append"),
    ("bad env", {"env": "qa"}, 400, "INVALID_ENVIRONMENT", "qa"),
    ("unknown id column", {"id_columns": ["nope"]}, 400, "INVALID_INPUT", "nope"),
    ("reserved id column", {"id_columns": ["job_id"]}, 400, "INVALID_INPUT", "clashes"),
    ("missing field", {"model_name": None}, 400, "INVALID_REQUEST", "model_name"),
    ("unknown field", {"colour": "red"}, 400, "INVALID_REQUEST", "colour"),
]


@pytest.mark.parametrize(
    ("changes", "status", "code", "words"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_bad_requests_get_a_clear_error(
    client, model, tables, outputs, unique, changes, status, code, words
):
    body = {
        "env": "dev",
        "input_table": f"{tables}.api_in",
        "output_table": f"{outputs}.api_bad_{unique}",
        "model_name": model.model_name,
    }
    for key, value in changes.items():
        if value is None:
            body.pop(key)
        else:
            body[key] = value.replace("{ds}", tables) if isinstance(value, str) else value
    response = client.post("/predict", json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"] == code
    assert words in response.json()["message"]


def test_unknown_job_is_404_and_bad_job_id_400(client):
    assert client.get("/jobs/never-ran").json()["error"] == "JOB_NOT_FOUND"
    assert client.get("/jobs/never-ran").status_code == 404
    assert client.get("/jobs/bad%20id").status_code == 400


def test_openapi_documents_predict_and_jobs(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/predict", "/jobs/{job_id}", "/health", "/ready", "/live"} <= set(paths)
    assert pd.notna(paths["/predict"]["post"]["requestBody"])
