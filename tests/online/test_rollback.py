"""The champion alias is followed without a restart: a promotion or a rollback reaches a running
service within its resolution TTL (2 s in this second service process)."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from mlsys.registry.aliases import set_aliases
from tests.online.conftest import COLD_TIMEOUT_S, rows_of
from tests.predict.helpers import publish

TTL_S = 2.0  # MLSYS_ONLINE_CACHE_TTL_S of spawned_service


@pytest.fixture(scope="module")
def client(spawned_service):
    with httpx.Client(base_url=spawned_service, timeout=COLD_TIMEOUT_S) as client:
        yield client


def champion_version(client: httpx.Client, name: str, rows: list[dict]) -> int:
    response = client.post(f"/models/{name}/versions/champion:predict", json={"instances": rows})
    assert response.status_code == 200, response.text
    return int(response.json()["model_version"])


def test_a_promotion_and_a_rollback_take_effect_within_the_ttl(client, titanic_trained):
    name = f"online-champion-{uuid.uuid4().hex[:8]}"
    for version in (1, 2):
        publish(
            titanic_trained.model, metadata=titanic_trained.metadata, name=name, version=version
        )
    rows = rows_of(titanic_trained.rows.iloc[:3])
    set_aliases("dev", name, {"champion": 1}, reason="test")
    assert champion_version(client, name, rows) == 1

    for target in (2, 1):  # promote v2, then roll back to v1
        set_aliases("dev", name, {"champion": target}, reason="test")
        changed = time.monotonic()
        time.sleep(TTL_S)  # any answer now comes from a lookup that started after the change
        assert champion_version(client, name, rows) == target
        assert time.monotonic() - changed >= TTL_S

    status = {
        m["model_version"]: m
        for m in client.get("/online/models").json()
        if m["model_name"] == name
    }
    assert status[1]["loads"] == 1 and status[2]["loads"] == 1  # v1 was kept, not reloaded


def test_extra_fields_are_refused_when_the_setting_says_so(client, titanic_name, titanic_trained):
    row = {**rows_of(titanic_trained.rows.iloc[:1])[0], "customer_id": 42}
    response = client.post(f"/models/{titanic_name}/versions/v1:predict", json={"instances": [row]})
    assert response.status_code == 422, response.text
    assert "'customer_id': unknown field" in response.json()["message"]
