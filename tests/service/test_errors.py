"""Every error answer is JSON ``{error, message, request_id}``: Google's errors mapped in one
place, FastAPI's own, and the unexpected ones, which keep the connection usable."""

from __future__ import annotations

import http.client
import json
import re

import httpx
import pytest
import requests
from google.api_core import exceptions as gexc
from starlette.datastructures import Headers

from service.errors import google_error
from service.middleware import MAX_BODY_BYTES, request_id_from
from tests.service.faults import FAULTS
from tests.service.spec import assert_documented

BQ = "https://bigquery.googleapis.com/bigquery/v2/projects/p"
GCS = "https://storage.googleapis.com/storage/v1/b/models-dev/o/churn%2Fv3%2Fmodel.pkl"


def http_error(status: int, reason: str, message: str, method: str = "GET", url: str = BQ):
    """The exception the official clients raise for a REST error answer."""
    response = requests.Response()
    response.status_code = status
    response.request = requests.Request(method, url).prepare()
    errors = [{"reason": reason, "message": message}]
    return gexc.from_http_status(status, message, errors=errors, response=response)


GOOGLE = [
    # (name, exception, status, code, words in the message)
    (
        "refused grant",
        http_error(403, "accessDenied", "Access Denied", url=f"{BQ}/datasets/d/tables/t"),
        403,
        "PERMISSION_DENIED",
        "table p.d.t",
    ),
    (
        "quota (a 403)",
        http_error(403, "quotaExceeded", "Quota exceeded"),
        429,
        "QUOTA_EXCEEDED",
        "",
    ),
    ("rate limit", http_error(403, "rateLimitExceeded", "Too fast"), 429, "QUOTA_EXCEEDED", ""),
    ("429", http_error(429, "tooManyRequests", "slow down"), 429, "QUOTA_EXCEEDED", ""),
    (
        "location mismatch",
        http_error(400, "invalid", "Cannot read and write in different locations: US, EU", "POST"),
        400,
        "LOCATION_MISMATCH",
        "same location",
    ),
    (
        "bad request",
        http_error(400, "invalid", "Bad column", "POST", f"{BQ}/datasets/d/tables"),
        400,
        "BAD_REQUEST",
        "dataset p.d",
    ),
    (
        "object missing",
        http_error(404, "notFound", "No such object", url=GCS),
        404,
        "NOT_FOUND",
        "gs://models-dev/churn/v3/model.pkl",
    ),
    ("exists", http_error(409, "duplicate", "Already Exists", "POST"), 409, "CONFLICT", ""),
    ("precondition", http_error(412, "conditionNotMet", "changed"), 409, "PRECONDITION_FAILED", ""),
    ("backend error", http_error(503, "backendError", "try later"), 503, "BACKEND_UNAVAILABLE", ""),
    ("server error", http_error(500, "internalError", "oops"), 503, "BACKEND_UNAVAILABLE", ""),
    ("our token", http_error(401, "authError", "bad token"), 503, "BACKEND_UNAVAILABLE", ""),
    ("our bug", http_error(405, "badMethod", "no"), 500, "INTERNAL", ""),
    ("gRPC refusal", gexc.PermissionDenied("read session denied"), 403, "PERMISSION_DENIED", ""),
    ("gRPC quota", gexc.ResourceExhausted("streams"), 429, "QUOTA_EXCEEDED", ""),
    ("gRPC unavailable", gexc.ServiceUnavailable("down"), 503, "BACKEND_UNAVAILABLE", ""),
    (
        "gave up",
        gexc.RetryError("deadline", gexc.ServiceUnavailable("down")),
        503,
        "BACKEND_UNAVAILABLE",
        "down",
    ),
]


@pytest.mark.parametrize(
    ("exc", "status", "code", "words"), [g[1:] for g in GOOGLE], ids=[g[0] for g in GOOGLE]
)
def test_google_errors_map_to_a_status_that_names_the_cause(exc, status, code, words):
    mapped = google_error(exc)
    assert (mapped.status, mapped.code) == (status, code)
    assert words in mapped.message


# Trace ids are hex, which the secret scanner flags: each line says they are not secrets.
CLOUD_TRACE = "105445AA7843bc8bf206b12000100000/1;o=1"  # pragma: allowlist secret
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"  # pragma: allowlist secret
TRACES = [
    (
        {"X-Cloud-Trace-Context": CLOUD_TRACE},
        "105445aa7843bc8bf206b12000100000",  # pragma: allowlist secret
    ),
    (
        {"traceparent": TRACEPARENT},
        "4bf92f3577b34da6a3ce929d0e0e4736",  # pragma: allowlist secret
    ),
    ({"X-Cloud-Trace-Context": "not-a-trace/1"}, None),
    ({"traceparent": "00-00000000000000000000000000000000-00f067aa0ba902b7-01"}, None),
    ({}, None),
]


@pytest.mark.parametrize(("headers", "expected"), TRACES)
def test_request_id_is_the_callers_trace_id_else_new(headers, expected):
    request_id = request_id_from(Headers(headers=headers))
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    if expected is not None:
        assert request_id == expected
    else:
        assert request_id != request_id_from(Headers(headers=headers))  # a new one each time


def assert_error_shape(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"] == code and body["message"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def test_an_unexpected_error_is_json_logged_and_keeps_the_connection(fault_server, faulty):
    fault_server.fault = FAULTS["garbage"]  # a 200 that is not JSON: nobody expects that
    trace = "0af7651916cd43dd8448eb211c80319c"  # pragma: allowlist secret
    with httpx.Client(base_url=faulty.url, timeout=30) as client:
        failed = client.get("/models", headers={"traceparent": f"00-{trace}-b7ad6b7169203331-01"})
        body = assert_error_shape(failed, 500, "INTERNAL")
        assert body["request_id"] == trace and trace in body["message"]
        assert failed.headers.get("connection") != "close"
        after = client.get("/health")  # the same client, the same pooled connection
        assert after.status_code == 200
    log = faulty.log.read_text()
    assert f"GET /models failed unexpectedly [request_id={trace}]" in log
    assert "Traceback (most recent call last)" in log and "JSONDecodeError" in log

    # On one TCP connection, explicitly: the server must not close it after the 500.
    connection = http.client.HTTPConnection(faulty.url.removeprefix("http://"), timeout=30)
    connection.request("GET", "/models/some-model")
    first = connection.getresponse()
    assert first.status == 500 and json.loads(first.read())["error"] == "INTERNAL"
    sock = connection.sock
    connection.request("GET", "/health")
    second = connection.getresponse()
    assert (second.status, connection.sock) == (200, sock)
    connection.close()


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [("forbidden", 403, "PERMISSION_DENIED"), ("quota", 429, "QUOTA_EXCEEDED")],
)
def test_google_refusals_reach_the_caller_with_their_status(
    fault_server, faulty, fault, status, code
):
    fault_server.fault = FAULTS[fault]
    with httpx.Client(base_url=faulty.url, timeout=30) as client:
        response = client.get("/jobs/some-job")
    body = assert_error_shape(response, status, code)
    assert "mlsys_ops_dev" in body["message"]  # the resource Google refused
    assert_documented("GET", "/jobs/{job_id}", status)


def test_no_credentials_is_503_saying_so(uncredentialed):
    with httpx.Client(base_url=uncredentialed.url, timeout=60) as client:
        response = client.get("/models")
    body = assert_error_shape(response, 503, "BACKEND_UNAVAILABLE")
    assert "credentials" in body["message"]


FASTAPI_OWN = [
    # (name, method, path, request kwargs, status, code, words in the message)
    ("unknown route", "GET", "/nope", {}, 404, "NOT_FOUND", "/nope"),
    ("wrong method", "DELETE", "/predict", {}, 405, "METHOD_NOT_ALLOWED", "GET, POST"),
    (
        "unparsable body",
        "POST",
        "/predict",
        {"content": b"{not json", "headers": {"content-type": "application/json"}},
        400,
        "INVALID_REQUEST",
        "not valid JSON",
    ),
    ("a list for a body", "POST", "/predict", {"json": ["a"]}, 400, "INVALID_REQUEST", "body"),
    (
        "wrong type",
        "POST",
        "/predict",
        {"json": {"input_table": 3}},
        400,
        "INVALID_REQUEST",
        "input_table",
    ),
    ("no body", "POST", "/predict", {}, 400, "INVALID_REQUEST", "body"),
    (
        "query out of range",
        "GET",
        "/models",
        {"params": {"limit": 0}},
        400,
        "INVALID_REQUEST",
        "limit",
    ),
    (
        "body too large",
        "POST",
        "/predict",
        {"json": {"x": "y" * MAX_BODY_BYTES}},
        413,
        "PAYLOAD_TOO_LARGE",
        "1048576",
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code", "words"),
    [f[1:] for f in FASTAPI_OWN],
    ids=[f[0] for f in FASTAPI_OWN],
)
def test_fastapis_own_errors_have_the_same_shape(
    service, method, path, kwargs, status, code, words
):
    response = service.request(method, path, **kwargs)
    body = assert_error_shape(response, status, code)
    assert words in body["message"]
    if status == 405:
        assert response.headers["allow"] == "GET, POST"


def test_a_streamed_body_is_cut_off_at_the_cap(service):
    """No Content-Length: the body is counted as it arrives."""

    def chunks():
        for _ in range(3):
            yield b" " * (MAX_BODY_BYTES // 2)

    response = service.post(
        "/predict", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_error_shape(response, 413, "PAYLOAD_TOO_LARGE")
