"""The registry endpoints of the service, in-process over the real emulator stack."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from mlsys.gcs import gcs_put
from tests.registry.conftest import wait_until


@pytest.fixture(scope="module")
def client(stack):
    from service.main import create_app

    return TestClient(create_app())


@pytest.fixture(scope="module")
def model(stack):
    name = "http-registry-model"
    meta = {
        "description": "Searchable HTTP model",
        "tags": ["http", "demo"],
        "metrics": {"auc": 0.9},
    }
    for v in (1, 2):
        gcs_put(json.dumps(meta), "mlsys-models-dev", f"{name}/v{v}/metadata.json")
        gcs_put(f"bytes {v}", "mlsys-models-dev", f"{name}/v{v}/model.joblib")
    gcs_put(b"other", "mlsys-models-dev", "http-registry-other/v1/model.pkl")  # a 2nd model
    from mlsys.registry.store import BigQueryRegistryStore

    store = BigQueryRegistryStore("dev")
    wait_until(lambda: len([r for r in store.current(model_name=name) if r["description"]]) == 2)
    wait_until(lambda: store.current(model_name="http-registry-other"))
    return name


def test_list_search_tags_paging(client, model):
    body = client.get("/models", params={"env": "dev", "search": "searchable http"}).json()
    assert [m["model_name"] for m in body["models"]] == [model]
    assert body["models"][0]["latest_version_label"] == "v2"
    tagged = client.get("/models", params=[("env", "dev"), ("tag", "http"), ("tag", "demo")])
    assert [m["model_name"] for m in tagged.json()["models"]] == [model]
    first = client.get("/models", params={"env": "dev", "limit": 1}).json()
    assert len(first["models"]) == 1 and first["next_page_token"]


@pytest.mark.parametrize("version, expected", [("v1", 1), ("1", 1), ("latest", 2)])
def test_version_lookup(client, model, version, expected):
    body = client.get(f"/models/{model}/versions/{version}", params={"env": "dev"}).json()
    assert body["model_version"] == expected and len(body["sha256"]) == 64
    assert body["metrics"] == {"auc": 0.9}


def test_model_and_versions(client, model):
    assert client.get(f"/models/{model}").json()["versions"] == ["v1", "v2"]
    assert len(client.get(f"/models/{model}/versions").json()) == 2


@pytest.mark.parametrize(
    "path, params, status, code",
    [
        ("/models/nope-model", {}, 404, "MODEL_NOT_FOUND"),
        ("/models/http-registry-model/versions/v9", {}, 404, "VERSION_NOT_FOUND"),
        ("/models/http-registry-model/versions/v01", {}, 400, "INVALID_VERSION"),
        ("/models/Bad_Name", {}, 400, "INVALID_ARTIFACT_PATH"),
        ("/models", {"env": "qa"}, 400, "INVALID_ENVIRONMENT"),
        ("/models", {"limit": 0}, 400, "INVALID_REQUEST"),
        ("/models", {"page_token": "%%%"}, 400, "INVALID_INPUT"),
    ],
)
def test_errors_are_json_with_the_right_status(client, model, path, params, status, code):
    response = client.get(path, params=params)
    assert response.status_code == status
    assert response.json()["error"] == code and response.json()["message"]


def test_seed_model_registry_endpoint_is_read_only(client, model, dev_store):
    def synced() -> int:
        return len([e for e in dev_store.events() if e.source == "sync"])

    before = synced()
    body = client.get("/model-registry", params={"env": "dev"}).json()
    assert body["bucket"] == "mlsys-models-dev" and body["scanned"] >= 4
    assert model in [m["model_name"] for m in body["models"]]
    assert synced() == before  # the service only reads the registry
