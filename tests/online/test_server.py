"""The server's handling of a registry it cannot read (no emulator needed)."""

from __future__ import annotations

import json

import pytest
from google.api_core.exceptions import ServiceUnavailable

from mlsys.errors import BackendUnavailable, InvalidBody, InvalidEnvironment
from mlsys.online import server as online
from mlsys.settings import Settings

BODY = json.dumps({"instances": [{"a": 1}]}).encode()


def test_a_registry_outage_is_a_503_and_is_not_remembered(monkeypatch):
    # A BigQuery outage cannot be produced on the shared emulator: the registry read is
    # replaced by one that fails the way the client does when BigQuery is unavailable.
    def unavailable(env, name, version):
        raise ServiceUnavailable("backend error")

    monkeypatch.setattr(online, "get_version", unavailable)
    server = online.OnlineServer(Settings())
    for _ in range(2):
        with pytest.raises(BackendUnavailable, match="registry of dev could not be read"):
            server.predict("dev", "m", "champion", BODY)
    assert server.resolutions.loads == 2  # tried again, not cached like a 404


def test_the_body_and_the_env_are_checked_before_the_registry_is_read(monkeypatch):
    monkeypatch.setattr(online, "get_version", lambda *a: pytest.fail("read the registry"))
    server = online.OnlineServer(Settings())
    with pytest.raises(InvalidBody):
        server.predict("dev", "m", "v1", b"[]")
    with pytest.raises(InvalidEnvironment):
        server.predict("qa", "m", "v1", BODY)
