"""The Eventarc stand-in: any object name, a spool that survives the bridge, dead letters.

The delivery tests run a real bridge process against a real HTTP server standing in for the
function (it records what it receives, or refuses), so the at-least-once and dead-letter
paths are exercised over the wire.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import pytest
from google.pubsub_v1 import types as ps

from mlsys.gcs import gcs_put
from mlsys.local import processes
from mlsys.local.bridge import header_value, to_cloudevent
from mlsys.local.spool import dead_letters, replay_dead_letters
from mlsys.registry.store import BigQueryRegistryStore
from tests.conftest import ROOT
from tests.registry.conftest import wait_until

NAMES = [
    pytest.param("tëst/v1/model.pkl", id="non-ascii"),
    pytest.param("模型/v1/model.pkl", id="not-latin-1"),
    pytest.param("a b/v1/model.pkl", id="space"),
    pytest.param("x%2Fy/v1/model.pkl", id="percent-2F"),
    pytest.param('quo"te/v1/model.pkl', id="double-quote"),
    # 976 bytes (GCS allows 1,024); locally each "/" segment stays under the 255 bytes of a
    # file name (fake-gcs-server's filesystem backend; see docs/local.md)
    pytest.param("/".join(["n" * 240] * 4) + "/v1/model.pkl", id="976-bytes"),
    pytest.param("new\nline/v1/model.pkl", id="newline"),
]


class FakeFunction:
    """An HTTP server standing in for the function: records CloudEvents, or answers 500."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.failing = True
        state = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = 500 if state.failing else 204
                if not state.failing:
                    state.received.append((dict(self.headers.items()), body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def function() -> Iterator[FakeFunction]:
    fake = FakeFunction()
    yield fake
    fake.server.shutdown()


def start_bridge(tmp_path: Path, url: str, *extra: str) -> tuple[processes.ProcessRecord, int]:
    port = processes.free_port()
    record = processes.spawn(
        "bridge",
        [
            *(sys.executable, "-m", "mlsys.local.bridge", "--port", str(port)),
            *("--function-url", url, "--spool", str(tmp_path / "events"), *extra),
        ],
        port=port,
        url="-",
        log_path=tmp_path / "bridge.log",
        env={"PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1"},
        cwd=ROOT,
    )
    processes.wait_ready(
        {"bridge": record}, {"bridge": processes.grpc_ready(f"127.0.0.1:{port}")}, 60
    )
    return record, port


def publish(port: int, name: str) -> None:
    """What fake-gcs-server sends for a finalized object."""
    message = ps.PubsubMessage(
        data=json.dumps({"bucket": "b", "name": name, "generation": "1"}).encode(),
        attributes={"bucketId": "b", "objectId": name, "eventType": "OBJECT_FINALIZE"},
    )
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(
            "/google.pubsub.v1.Publisher/Publish",
            request_serializer=ps.PublishRequest.serialize,
            response_deserializer=ps.PublishResponse.deserialize,
        )
        call(ps.PublishRequest(topic="projects/p/topics/t", messages=[message]), timeout=10)


@pytest.mark.parametrize("name", NAMES)
def test_subject_is_a_valid_header_and_the_body_keeps_the_exact_name(name):
    message = ps.PubsubMessage(
        data=json.dumps({"name": name}).encode(),
        attributes={"bucketId": "b", "objectId": name, "eventType": "OBJECT_FINALIZE"},
    )
    delivery = to_cloudevent(message, "id-1")
    assert delivery is not None
    for value in delivery.headers.values():
        assert value.isascii() and value.isprintable() and " " not in value
    assert json.loads(delivery.payload())["name"] == name
    from urllib.parse import unquote

    assert unquote(delivery.headers["ce-subject"]) == f"objects/{name}"


def test_header_value_follows_the_cloudevents_http_binding():
    assert header_value("objects/tëst a%b") == "objects/t%C3%ABst%20a%25b"


@pytest.mark.parametrize("name", NAMES)
def test_the_function_registers_any_object_name(stack, settings, name):
    """Through fake-gcs-server, the bridge and the real function: the registry records the
    object under its exact name (registered or rejected by the contract), nothing is lost."""
    bucket = settings.bucket_for("dev")
    gcs_put(b"not a model", bucket, name)
    store = BigQueryRegistryStore("dev")
    rows = wait_until(lambda: store.events(object_name=name), timeout=60)
    assert rows[0].object_name == name
    assert processes.grpc_ready(stack.records["bridge"].url.removeprefix("grpc://"))()


def test_undeliverable_events_are_dead_lettered_then_replayed(tmp_path, function):
    record, port = start_bridge(tmp_path, function.url, "--max-attempts", "2")
    try:
        publish(port, "m/v1/model.pkl")
        spool = tmp_path / "events"
        letters = wait_until(lambda: dead_letters(spool), timeout=30)
        dead = json.loads(letters[0].read_text())
        assert dead["attempts"] == 2 and "500" in dead["error"]
        assert processes.grpc_ready(f"127.0.0.1:{port}")()  # the workers survived
        function.failing = False
        assert replay_dead_letters(spool) == 1
        wait_until(lambda: function.received, timeout=30)
        headers, body = function.received[0]
        assert headers["ce-subject"] == "objects/m/v1/model.pkl"
        assert json.loads(body)["name"] == "m/v1/model.pkl"
        assert dead_letters(spool) == [] and not list((spool / "pending").glob("*.json"))
    finally:
        processes.stop(record)


def test_accepted_events_survive_a_killed_bridge(tmp_path, function):
    """Spooled before `Publish` answers: a bridge killed with events in flight delivers them
    after its restart, as Pub/Sub keeps unacknowledged messages."""
    import psutil

    record, port = start_bridge(tmp_path, function.url)
    publish(port, "kept/v1/model.pkl")  # the function fails: the event stays pending
    time.sleep(0.5)
    psutil.Process(record.pid).kill()
    psutil.Process(record.pid).wait(10)
    assert list((tmp_path / "events" / "pending").glob("*.json"))
    function.failing = False
    again, _ = start_bridge(tmp_path, function.url)
    try:
        wait_until(lambda: function.received, timeout=30)
        assert json.loads(function.received[0][1])["name"] == "kept/v1/model.pkl"
    finally:
        processes.stop(again)


def test_a_dead_worker_makes_the_bridge_unhealthy(tmp_path):
    from mlsys.local.bridge import Deliverer, make_handlers
    from mlsys.local.spool import Spool

    deliverer = Deliverer("http://127.0.0.1:9", Spool(tmp_path))
    server = grpc.server(__import__("concurrent.futures").futures.ThreadPoolExecutor(2))
    server.add_generic_rpc_handlers(make_handlers(deliverer))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        assert processes.grpc_ready(f"127.0.0.1:{port}")()
        deliverer.queue.put(None)  # one delivery worker ends
        wait_until(lambda: not deliverer.healthy(), timeout=10)
        assert not processes.grpc_ready(f"127.0.0.1:{port}")()
    finally:
        deliverer.stop()
        server.stop(0)
