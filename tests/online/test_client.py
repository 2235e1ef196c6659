"""``mlsys.predict_online``: the Python client of the service."""

from __future__ import annotations

import base64
import json
import time

import numpy as np
import pytest

import mlsys
from mlsys.errors import InvalidInstances, ModelNotFound, VersionNotFound
from mlsys.online import client as online_client
from mlsys.settings import Settings
from tests.online.conftest import COLD_TIMEOUT_S


def test_predicts_dicts_and_dataframes_like_the_model(stack, titanic_name, titanic_trained):
    frame = titanic_trained.rows.iloc[:30]  # NaN Age values travel as null
    expected = titanic_trained.model.predict_proba(frame)
    # the first request of the session may meet a cold service process: a longer timeout
    from_frame = mlsys.predict_online(titanic_name, frame, version="v1", timeout=COLD_TIMEOUT_S)
    from_dicts = mlsys.predict_online(titanic_name, frame.to_dict("records"), version="latest")
    for answer in (from_frame, from_dicts):
        assert answer.model_version == 1 and answer.classes == [0, 1]
        np.testing.assert_allclose(answer.probabilities, expected, atol=1e-6)
        assert answer.predictions == titanic_trained.model.predict(frame).tolist()


def test_errors_come_back_as_their_mlsys_classes(stack, titanic_name):
    with pytest.raises(InvalidInstances, match="'Age': missing") as info:
        mlsys.predict_online(titanic_name, [{"Pclass": 1}], version="v1", env="dev")
    assert "Age" in info.value.details["fields"]
    with pytest.raises(ModelNotFound):
        mlsys.predict_online("no-such-model", [{"a": 1}])
    with pytest.raises(VersionNotFound, match="'nope'"):
        mlsys.predict_online(titanic_name, [{"a": 1}], version="nope", env="dev")


def cloud_settings(url: str = "https://svc.run.app") -> Settings:
    """Settings as on Google Cloud (no emulators), whatever this session's environment says."""
    return Settings(
        MLSYS_SERVICE_URL=url,
        STORAGE_EMULATOR_HOST=None,
        BIGQUERY_EMULATOR_HOST=None,
        BIGQUERY_STORAGE_EMULATOR_HOST=None,
    )


def _token(expires_in: float) -> str:
    """An unsigned JWT with an ``exp`` claim (the client only reads the expiry)."""

    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    claims = {"aud": "https://svc.run.app", "exp": int(time.time() + expires_in)}
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2ln"


def test_on_google_cloud_an_identity_token_for_the_service_is_sent_and_reused(monkeypatch):
    # Google's token endpoint (the metadata server on Cloud Run) cannot run here: the one
    # call that fetches the token is replaced, everything around it is the real code.
    fetched = []

    def fetch_id_token(request, audience):
        fetched.append(audience)
        return _token(3600)

    monkeypatch.setattr("google.oauth2.id_token.fetch_id_token", fetch_id_token)
    monkeypatch.setattr(online_client, "_tokens", {})
    cloud = cloud_settings()
    assert not cloud.uses_emulators
    for _ in range(2):
        headers = online_client.auth_headers(cloud, "https://svc.run.app")
        assert headers["Authorization"].startswith("Bearer ") and headers["Authorization"][7:]
    assert fetched == ["https://svc.run.app"]  # the token is kept until it nearly expires


def test_a_token_near_its_expiry_is_replaced(monkeypatch):
    tokens = iter([_token(60), _token(3600)])
    monkeypatch.setattr("google.oauth2.id_token.fetch_id_token", lambda r, a: next(tokens))
    monkeypatch.setattr(online_client, "_tokens", {})
    cloud = cloud_settings()
    first = online_client.auth_headers(cloud, "https://svc.run.app")
    second = online_client.auth_headers(cloud, "https://svc.run.app")
    assert first != second  # 60 s left is inside the margin: fetched again


def test_the_local_stack_needs_no_token(stack, settings):
    assert online_client.auth_headers(settings, settings.service_url or "") == {}
    loopback = cloud_settings("http://127.0.0.1:8080")
    assert online_client.auth_headers(loopback, "http://127.0.0.1:8080") == {}
