"""The lean path of online prediction (service.online_path) answers exactly as the FastAPI
route it bypasses: same status, headers and bytes, errors included; the route stays in the
OpenAPI."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.main import create_app
from service.online_path import OnlinePredictPath
from service.routes.online import PREDICT_PATH
from tests.online.conftest import rows_of
from tests.online.test_service import BAD_BODIES, ROW, predict_path

#: Sent with every request, so that both apps give the same request id.
TRACE = {"x-cloud-trace-context": "0af7651916cd43dd8448eb211c80319c/1;o=1"}


@pytest.fixture(scope="module")
def apps(stack) -> Iterator[tuple[TestClient, TestClient]]:
    """The service as it runs (lean path) and with FastAPI's routing only, in this process."""
    with TestClient(create_app()) as lean, TestClient(create_app(online_path=False)) as routed:
        yield lean, routed


def both(apps: tuple[TestClient, TestClient], method: str, path: str, **kwargs: Any) -> Any:
    lean, routed = (
        client.request(method, path, headers={**TRACE, **kwargs.pop("headers", {})}, **kwargs)
        for client in apps
    )
    return lean, routed


def assert_same(lean: Any, routed: Any) -> None:
    assert lean.status_code == routed.status_code, (lean.text, routed.text)
    assert lean.headers.raw == routed.headers.raw  # names, values and order
    assert lean.content == routed.content


def test_a_prediction_is_answered_the_same(apps, titanic_name, titanic_trained):
    for rows in (titanic_trained.rows.iloc[:1], titanic_trained.rows.iloc[:30]):
        for params in (None, {"env": "dev"}, {"env": ""}):
            body = {"instances": rows_of(rows)}
            lean, routed = both(apps, "POST", predict_path(titanic_name), json=body, params=params)
            assert lean.status_code == 200 and lean.headers["x-mlsys-runtime"] == "sklearn"
            trace = "0af7651916cd43dd8448eb211c80319c"  # pragma: allowlist secret
            assert lean.headers["x-request-id"] == trace
            assert_same(lean, routed)


@pytest.mark.parametrize(
    ("version", "body", "query", "status", "code", "text"),
    [case[1:] for case in BAD_BODIES],
    ids=[case[0] for case in BAD_BODIES],
)
def test_a_bad_request_gets_the_same_error(
    apps, titanic_name, version, body, query, status, code, text
):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    lean, routed = both(
        apps,
        "POST",
        predict_path(titanic_name, version),
        content=content,
        params=query or None,
        headers={"content-type": "application/json"},
    )
    assert lean.status_code == status and lean.json()["error"] == code, lean.text
    assert text in lean.json()["message"]
    assert_same(lean, routed)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/models/no-such-model/versions/v1:predict", 404),  # unknown model
        ("POST", "/models/Bad_Name/versions/v1:predict", 400),
        ("POST", "/models/a%2Fb/versions/v1:predict", 404),  # a slash in the name: no route
        # FastAPI answers these: the version route takes the GET, none takes the others
        ("GET", "/models/no-such-model/versions/v1:predict", 404),
        ("POST", "/models/no-such-model/versions/v1:predict/", 404),
        ("POST", "/models/no-such-model/versions/v1:predicts", 405),
    ],
)
def test_other_paths_and_methods_get_the_same_answer(apps, method, path, status):
    lean, routed = both(apps, method, path, json={"instances": [ROW]})
    assert lean.status_code == status, lean.text
    assert lean.json()["request_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert_same(lean, routed)


def test_a_body_over_the_limit_gets_the_same_error(apps, titanic_name):
    body = b" " * (10 * 1024 * 1024 + 1)
    lean, routed = both(apps, "POST", predict_path(titanic_name), content=body)
    assert lean.status_code == 413 and lean.json()["error"] == "TOO_MANY_INSTANCES"
    assert_same(lean, routed)


def test_only_online_predictions_take_the_lean_path(apps, titanic_name):
    """The middleware answers POST predictions without the app behind it, and hands it
    everything else."""
    passed: list[tuple[str, str]] = []

    async def behind(scope: Any, receive: Any, send: Any) -> None:
        passed.append((scope["method"], scope["path"]))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    lean = OnlinePredictPath(behind, exception_handlers=apps[0].app.exception_handlers)
    body = json.dumps({"instances": [ROW]}).encode()
    path = predict_path(titanic_name)
    statuses = [
        call(lean, method, p, body)
        for method, p in [("POST", path), ("GET", path), ("POST", path + "/"), ("POST", "/x")]
    ]
    assert statuses == [200, 204, 204, 204]
    assert passed == [("GET", path), ("POST", path + "/"), ("POST", "/x")]


def call(app: Any, method: str, path: str, body: bytes) -> int:
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
        "state": {},
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop() if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return int(sent[0]["status"])


def test_the_route_stays_the_documented_contract():
    lean, routed = create_app().openapi(), create_app(online_path=False).openapi()
    assert "post" in lean["paths"][PREDICT_PATH]
    assert lean["paths"][PREDICT_PATH] == routed["paths"][PREDICT_PATH]
