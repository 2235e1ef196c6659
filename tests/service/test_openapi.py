"""The OpenAPI tells the truth: every status it documents is produced by a request below, and
every request below gets a documented status with a code the document names.

Route-specific answers come from requests to the stack's service; what any route that calls
Google can meet (a refused grant, a quota, an unexpected answer, no credentials) from the same
service in front of failing backends (tests/service/faults.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from service.middleware import MAX_BODY_BYTES
from tests.service.faults import FAULTS
from tests.service.spec import openapi


@dataclass(frozen=True)
class Call:
    """One request; ``{model}``, ``{ds}`` (inputs), ``{out}`` (the predictions dataset, where the
    service may write), ``{job}`` and ``{unique}`` are filled in at run time."""

    path: str
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    target: str = "stack"  # or "forbidden", "quota", "garbage" (faulty), "uncredentialed"


def body(**changes: Any) -> dict[str, Any]:
    return {
        "env": "dev",
        "input_table": "{ds}.api_in",
        "output_table": "{out}.matrix_{unique}",
        "model_name": "{model}",
        **changes,
    }


#: One row of the API tests' model (f0..f3).
INSTANCE = {"f0": 0.1, "f1": 0.2, "f2": 0.3, "f3": 0.4}
ONLINE = "/models/{model}/versions/v1:predict"

#: A request of each operation that succeeds on the stack.
SAMPLES: dict[tuple[str, str], Call] = {
    ("GET", "/health"): Call("/health"),
    ("GET", "/live"): Call("/live"),
    ("GET", "/ready"): Call("/ready"),
    ("GET", "/models"): Call("/models"),
    ("GET", "/models/{name}"): Call("/models/{model}"),
    ("GET", "/models/{name}/versions"): Call("/models/{model}/versions"),
    ("GET", "/models/{name}/versions/{version}"): Call("/models/{model}/versions/v1"),
    ("GET", "/models/{name}/history"): Call("/models/{model}/history"),
    ("GET", "/model-registry"): Call("/model-registry", {"env": "dev"}),
    ("GET", "/jobs/{job_id}"): Call("/jobs/{job}"),
    ("GET", "/predict"): Call("/predict", body(output_table="{out}.matrix_get_{unique}")),
    ("POST", "/predict"): Call("/predict", json=body()),
    ("GET", "/jobs"): Call("/jobs"),
    ("GET", "/jobs/{job_id}/drift"): Call("/jobs/{job}/drift"),
    ("GET", "/models/rejections"): Call("/models/rejections"),
    ("GET", "/models/{name}/drift"): Call("/models/{model}/drift"),
    ("GET", "/models/{name}/shadows"): Call("/models/{model}/shadows"),
    ("GET", "/online/models"): Call("/online/models"),
    ("POST", "/models/{name}/versions/{version}:predict"): Call(
        "/models/{model}/versions/v1:predict", json={"instances": [INSTANCE]}
    ),
}

#: Route-specific answers, on the stack.
SPECIFIC: dict[tuple[str, str, int], Call] = {
    ("GET", "/models", 400): Call("/models", {"limit": 0}),
    ("GET", "/models/{name}", 400): Call("/models/{model}", {"env": "qa"}),
    ("GET", "/models/{name}", 404): Call("/models/nope-{unique}"),
    ("GET", "/models/{name}/versions", 400): Call("/models/Bad_Name/versions"),
    ("GET", "/models/{name}/versions", 404): Call("/models/nope-{unique}/versions"),
    ("GET", "/models/{name}/versions/{version}", 400): Call("/models/{model}/versions/v01"),
    ("GET", "/models/{name}/versions/{version}", 404): Call("/models/{model}/versions/v99"),
    ("GET", "/models/{name}/history", 400): Call("/models/Bad_Name/history"),
    ("GET", "/models/{name}/history", 404): Call("/models/nope-{unique}/history"),
    ("GET", "/model-registry", 400): Call("/model-registry", {"env": "qa"}),
    ("GET", "/jobs/{job_id}", 400): Call("/jobs/bad id"),
    ("GET", "/jobs/{job_id}", 404): Call("/jobs/never-{unique}"),
    ("GET", "/predict", 400): Call("/predict", body(input_table="x; DROP TABLE y")),
    ("GET", "/predict", 404): Call("/predict", body(model_name="nope-{unique}")),
    ("GET", "/predict", 409): Call("/predict", body(model_name="{archived}")),
    ("GET", "/predict", 422): Call("/predict", body(input_table="{ds}.api_missing")),
    ("POST", "/predict", 202): Call(
        "/predict", json=body(output_table="{out}.m_async_{unique}", **{"async": True})
    ),
    ("POST", "/predict", 400): Call("/predict", json=body(job_id="a b/c")),
    ("POST", "/predict", 404): Call("/predict", json=body(input_table="{ds}.nope")),
    ("POST", "/predict", 409): Call(
        "/predict", json=body(job_id="{job}", output_table="{out}.other_{unique}")
    ),
    ("POST", "/predict", 413): Call("/predict", json=body(colour="x" * MAX_BODY_BYTES)),
    ("POST", "/predict", 422): Call("/predict", json=body(input_table="{ds}.api_strings")),
    ("GET", "/jobs", 400): Call("/jobs", {"env": "qa"}),
    ("GET", "/jobs/{job_id}/drift", 400): Call("/jobs/bad id/drift"),
    ("GET", "/jobs/{job_id}/drift", 404): Call("/jobs/never-{unique}/drift"),
    ("GET", "/models/rejections", 400): Call("/models/rejections", {"limit": 0}),
    ("GET", "/models/{name}/drift", 400): Call("/models/Bad_Name/drift"),
    ("GET", "/models/{name}/shadows", 400): Call("/models/Bad_Name/shadows"),
    ("POST", "/models/{name}/versions/{version}:predict", 400): Call(
        ONLINE, json={"instances": "nope"}
    ),
    ("POST", "/models/{name}/versions/{version}:predict", 404): Call(
        "/models/nope-{unique}/versions/v1:predict", json={"instances": [INSTANCE]}
    ),
    ("POST", "/models/{name}/versions/{version}:predict", 413): Call(
        ONLINE, json={"instances": [INSTANCE] * 1001}
    ),
    ("POST", "/models/{name}/versions/{version}:predict", 422): Call(
        ONLINE, json={"instances": [{**INSTANCE, "f0": "high"}]}
    ),
}

#: What any operation that calls Google meets, and how a test makes it happen.
FAULT_TARGETS = {403: "forbidden", 429: "quota", 500: "garbage", 503: "uncredentialed"}


def cases() -> dict[tuple[str, str, int], Call]:
    """Every (method, path, status) the tests produce, with the request that produces it."""
    produced = {(m, p, 200): call for (m, p), call in SAMPLES.items()}
    produced.update(SPECIFIC)
    for (method, path), call in SAMPLES.items():
        if path in ("/health", "/live", "/online/models"):
            continue  # they call nothing
        statuses = (503,) if path == "/ready" else tuple(FAULT_TARGETS)
        for status in statuses:
            target = FAULT_TARGETS[status]
            produced[(method, path, status)] = Call(call.path, call.params, call.json, target)
    return produced


CASES = cases()


def documented_statuses() -> set[tuple[str, str, int]]:
    return {
        (method.upper(), path, int(status))
        for path, operations in openapi()["paths"].items()
        for method, operation in operations.items()
        for status in operation["responses"]
    }


def test_the_requests_below_cover_exactly_the_documented_statuses():
    assert set(CASES) == documented_statuses()


def fill(value: Any, names: dict[str, str]) -> Any:
    """``value`` with its placeholders replaced."""
    if isinstance(value, str):
        return value.format(**names)
    if isinstance(value, dict):
        return {key: fill(item, names) for key, item in value.items()}
    return value


@pytest.fixture(scope="module")
def finished_job(service, model, tables, outputs) -> str:
    """A job that ran on the stack: ``GET /jobs/{job}`` 200, and a used id for the 409."""
    job = f"matrix-{uuid.uuid4().hex[:10]}"
    names = {"model": model.model_name, "ds": tables, "out": outputs, "unique": job, "job": job}
    response = service.post("/predict", json={**fill(body(), names), "job_id": job})
    assert response.status_code == 200, response.text
    return job


@pytest.fixture(scope="module")
def archived_model(stack) -> str:
    """A model whose only version is archived in dev: predicting with it is 409."""
    from sklearn.ensemble import RandomForestClassifier

    from mlsys.promote.lifecycle import archive
    from tests.predict.helpers import numeric_frame, publish

    x = numeric_frame(50, seed=7)[["f0", "f1", "f2", "f3"]]
    mv = publish(RandomForestClassifier(n_estimators=2).fit(x, x["f0"] > 0.5))
    archive(mv.model_name, 1, env="dev")
    return mv.model_name


@pytest.mark.parametrize(
    ("method", "path", "status"), sorted(CASES), ids=[f"{m} {p} {s}" for m, p, s in sorted(CASES)]
)
def test_each_documented_status_is_produced(
    request,
    service,
    model,
    tables,
    outputs,
    unique,
    finished_job,
    fault_server,
    method,
    path,
    status,
):
    """Fault targets start their service process only when a case needs it."""
    call = CASES[(method, path, status)]
    names = {
        "archived": request.getfixturevalue("archived_model") if "{archived}" in str(call) else "",
        "model": model.model_name,
        "ds": tables,
        "out": outputs,
        "unique": unique,
        "job": finished_job,
    }
    if call.target == "stack":
        url = str(service.base_url)
    elif call.target == "uncredentialed":
        url = request.getfixturevalue("uncredentialed").url
    else:
        fault_server.fault = FAULTS[call.target]
        url = request.getfixturevalue("faulty").url
    with httpx.Client(base_url=url, timeout=120) as client:
        response = client.request(
            method,
            fill(call.path, names),
            params=fill(call.params, names),
            json=fill(call.json, names),
        )
    assert response.status_code == status, response.text
    if status >= 400:
        answer = response.json()
        assert set(answer) >= {"error", "message", "request_id"}
        described = openapi()["paths"][path][method.lower()]["responses"][str(status)]
        assert f"`{answer['error']}`" in described["description"], answer


def test_no_automatic_422_is_left():
    text = str(openapi())
    assert "HTTPValidationError" not in text and "ValidationError" not in text


def test_every_error_response_has_the_error_schema():
    schemas = openapi()["components"]["schemas"]
    assert set(schemas["ErrorBody"]["required"]) == {"error", "message", "request_id"}
    for path, operations in openapi()["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) < 400:
                    continue
                ref = response["content"]["application/json"]["schema"]["$ref"]
                name = ref.rsplit("/", 1)[1]
                assert {"error", "message", "request_id"} <= set(schemas[name]["required"]), (
                    f"{method} {path} {status}"
                )


def test_closed_sets_are_enums():
    schemas = openapi()["components"]["schemas"]
    request, job = (
        schemas["PredictionRequest"]["properties"],
        schemas["JobResponse"]["properties"],
    )

    def resolved(prop: dict) -> dict:
        ref = prop.get("$ref") or (prop.get("allOf") or [{}])[0].get("$ref")
        return schemas[ref.rsplit("/", 1)[1]] if ref else prop

    assert resolved(request["engine"])["enum"] == ["service", "job"]
    assert resolved(request["write_disposition"])["enum"] == ["append", "truncate"]
    assert request["env"]["enum"] == ["dev", "staging", "prod", None]
    assert job["status"]["enum"] == ["queued", "running", "succeeded", "failed", "stalled"]
    assert job["env"]["enum"] == ["dev", "staging", "prod"]
    for path, operations in openapi()["paths"].items():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "env":
                    assert parameter["schema"]["enum"][:3] == ["dev", "staging", "prod"], path


def test_every_request_body_has_an_example():
    for path, operations in openapi()["paths"].items():
        for method, operation in operations.items():
            if "requestBody" in operation:
                examples = operation["requestBody"]["content"]["application/json"]["examples"]
                assert examples, f"{method} {path}"
                for example in examples.values():
                    assert example["value"] and example["summary"], f"{method} {path}"
