"""``/predict`` and ``/jobs`` over HTTP: the running service, and a table of bad requests."""

from __future__ import annotations

import time

import pytest

from mlsys.bq import bq_get
from tests.service.spec import assert_documented


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
    assert started.json()["engine"] == "job" and started.json()["execution"]  # a job execution
    deadline = time.monotonic() + 300
    while True:  # read through the in-process app: the status is shared through BigQuery
        status = client.get(f"/jobs/{job_id}").json()
        if status["status"] not in ("queued", "running") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
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
    # issue 11: these answered a plain-text 500 (the first after 564 s of client retries)
    ("duplicate id columns", {"id_columns": ["row_id", "row_id"]}, 400, "INVALID_INPUT", "once"),
    (
        "shadow output name too long",
        {"output_table": "{ds}." + "o" * 1020, "shadow_version": "v2"},
        400,
        "INVALID_TABLE_ID",
        "1024",
    ),
    ("view as input", {"input_table": "{ds}.api_view"}, 422, "UNSUPPORTED_TABLE_TYPE", "view"),
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
    assert response.json()["request_id"] == response.headers["x-request-id"]
    assert_documented("POST", "/predict", status)


OUTPUT_PROBLEMS = [
    # (name, output table, status, error code, words in the message)
    ("no such dataset", "mlsys-local.no_such_dataset.out", 404, "TABLE_NOT_FOUND", "dataset"),
    (
        "incompatible schema",
        "{ds}.api_incompatible_out",
        422,
        "OUTPUT_SCHEMA_MISMATCH",
        "prediction",
    ),
    ("a view", "{ds}.api_view", 422, "OUTPUT_SCHEMA_MISMATCH", "view"),
]
ENGINES = {
    "now": {},
    "async": {"async": True},
    "job": {"engine": "job", "tasks": 2},
}


@pytest.mark.parametrize("engine", list(ENGINES))
@pytest.mark.parametrize(
    ("output", "status", "code", "words"),
    [p[1:] for p in OUTPUT_PROBLEMS],
    ids=[p[0] for p in OUTPUT_PROBLEMS],
)
def test_every_engine_checks_the_output_before_answering(
    client, model, tables, unique, engine, output, status, code, words
):
    """``async`` and the job engine answer 202 only after the checks a synchronous call runs."""
    body = {
        "input_table": f"{tables}.api_in",
        "output_table": output.replace("{ds}", tables),
        "model_name": model.model_name,
        "job_id": f"out-{engine}-{unique}",
        **ENGINES[engine],
    }
    response = client.post("/predict", json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"] == code and words in response.json()["message"]
    assert client.get(f"/jobs/out-{engine}-{unique}").status_code == 404  # nothing started


@pytest.mark.parametrize("engine", list(ENGINES))
def test_every_engine_refuses_duplicate_id_columns_at_once(client, model, tables, outputs, engine):
    body = {
        "input_table": f"{tables}.api_in",
        "output_table": f"{outputs}.api_dup_ids",
        "model_name": model.model_name,
        "id_columns": ["row_id", "f0", "row_id"],
        **ENGINES[engine],
    }
    started = time.monotonic()
    response = client.post("/predict", json=body)
    assert (response.status_code, response.json()["error"]) == (400, "INVALID_INPUT")
    assert "row_id" in response.json()["message"]
    assert time.monotonic() - started < 30  # no retried backend error behind it


@pytest.mark.parametrize("engine", list(ENGINES))
def test_an_output_name_must_leave_room_for_the_shadow_table(client, model, tables, engine):
    """The job's own tables live in the ops dataset under the job id (never cut, never derived
    from the output's name); only a shadow job writes a table named after the output."""
    body = {
        "input_table": f"{tables}.api_in",
        "output_table": f"{tables}.{'o' * 1020}",
        "model_name": model.model_name,
        "job_id": "j" * 64,
        "shadow_version": "v2",
        **ENGINES[engine],
        "tasks": 1,
    }
    response = client.post("/predict", json=body)
    assert (response.status_code, response.json()["error"]) == (400, "INVALID_TABLE_ID")
    assert "at most" in response.json()["message"]


def test_unknown_job_is_404_and_bad_job_id_400(client):
    assert client.get("/jobs/never-ran").json()["error"] == "JOB_NOT_FOUND"
    assert client.get("/jobs/never-ran").status_code == 404
    bad = client.get("/jobs/bad%20id")
    assert (bad.status_code, bad.json()["error"]) == (400, "INVALID_IDENTIFIER")


def test_a_double_fired_schedule_writes_once(client, model, tables, outputs, unique):
    """Cloud Scheduler retries (or two schedulers fire): both requests carry the same
    X-CloudScheduler-ScheduleTime, so they get the same job id and one execution."""
    body = {
        "input_table": f"{tables}.api_in",
        "output_table": f"{outputs}.api_scheduled_{unique}",
        "model_name": model.model_name,
        "engine": "job",
        "schedule": f"nightly-{unique}",
    }
    fired = {"X-CloudScheduler-ScheduleTime": "2026-11-26T03:00:00Z"}
    first = client.post("/predict", json=body, headers=fired)
    again = client.post("/predict", json=body, headers=fired)
    assert (first.status_code, again.status_code) == (202, 202), (first.text, again.text)
    job_id = f"nightly-{unique}-20261126t030000"
    assert first.json()["job_id"] == again.json()["job_id"] == job_id
    assert again.json()["execution"] == first.json()["execution"]  # no second execution
    next_night = {**body, "output_table": f"{outputs}.api_scheduled_next_{unique}"}
    later = client.post(
        "/predict",
        json=next_night,
        headers={"X-CloudScheduler-ScheduleTime": "2026-11-27T03:00:00Z"},
    )
    assert later.json()["job_id"] == f"nightly-{unique}-20261127t030000"  # the next night
    bad = client.post("/predict", json=body, headers={"X-CloudScheduler-ScheduleTime": "soon"})
    assert (bad.status_code, bad.json()["error"]) == (400, "INVALID_INPUT")
    deadline = time.monotonic() + 300
    while client.get(f"/jobs/{job_id}").json()["status"] in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.5)
    rows = bq_get(f"SELECT row_id FROM `{outputs}.api_scheduled_{unique}`")
    assert len(rows) == 100 and rows["row_id"].is_unique
