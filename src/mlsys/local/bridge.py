"""An Eventarc stand-in for the local stack.

fake-gcs-server publishes object notifications to a Pub/Sub endpoint over gRPC. This module is
that endpoint: a minimal ``google.pubsub.v1.Publisher`` (``Publish``, ``GetTopic``,
``CreateTopic``) that turns each message into a binary-mode CloudEvent and POSTs it to the
registry function, the way Eventarc does: at least once, with retries and backoff, from several
workers at once (so events for one object may arrive out of order, as in production).

Like Pub/Sub, it keeps what it accepted: each event is written to a spool
(``.mlsys/events/pending``) before ``Publish`` answers, and removed once the function took it,
so a bridge killed mid-delivery delivers after its restart. An event that still fails after
:data:`MAX_ATTEMPTS` (or cannot be sent at all) moves to ``.mlsys/events/dead`` with the reason:
the dead-letter topic of the Terraform (``mlsys local replay-dead-letters`` moves it back).
``grpc.health.v1.Health/Check`` answers NOT_SERVING when a delivery worker died.

Run: ``python -m mlsys.local.bridge --port P --function-url URL --spool DIR``.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import logging
import os
import queue
import signal
import threading
import time
import uuid
from concurrent import futures
from pathlib import Path
from urllib.parse import quote

import grpc
import httpx
from google.pubsub_v1 import types as ps

from mlsys.local.processes import NOT_SERVING, SERVING
from mlsys.local.spool import Delivery, Spool

log = logging.getLogger("mlsys.local.bridge")

#: Pub/Sub notification eventType -> CloudEvent type, as Eventarc maps them.
EVENT_TYPES = {
    "OBJECT_FINALIZE": "google.cloud.storage.object.v1.finalized",
    "OBJECT_DELETE": "google.cloud.storage.object.v1.deleted",
    "OBJECT_METADATA_UPDATE": "google.cloud.storage.object.v1.metadataUpdated",
    "OBJECT_ARCHIVE": "google.cloud.storage.object.v1.archived",  # not sent by fake-gcs-server
}

#: Delivery retry policy: like an Eventarc trigger with retries on (exponential backoff), but
#: bounded for a laptop: about 45 s of attempts, enough for a restarted function to come back.
MAX_ATTEMPTS = 10
FIRST_BACKOFF_S = 0.2
MAX_BACKOFF_S = 10.0
SCAN_S = 1.0
#: CloudEvents HTTP binding 1.0.2, 3.1.3.2: header values are printable ASCII; anything else
#: (and space, '"', '%') is percent-encoded as UTF-8. The function reads the object's name
#: from the JSON body, where it is exact; the subject only mirrors it.
_HEADER_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"%')


def to_cloudevent(message: ps.PubsubMessage, message_id: str) -> Delivery | None:
    """Translate a GCS Pub/Sub notification into a binary-mode CloudEvent request."""
    attrs = dict(message.attributes)
    ce_type = EVENT_TYPES.get(attrs.get("eventType", ""))
    if ce_type is None:
        log.warning("ignoring notification with eventType %r", attrs.get("eventType"))
        return None
    bucket, name = attrs.get("bucketId", ""), attrs.get("objectId", "")
    headers = {
        "ce-id": message_id,
        "ce-specversion": "1.0",
        "ce-type": ce_type,
        "ce-source": header_value(f"//storage.googleapis.com/projects/_/buckets/{bucket}"),
        "ce-subject": header_value(f"objects/{name}"),
        "ce-time": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
        "content-type": "application/json",
    }
    return Delivery(message_id, headers, base64.b64encode(bytes(message.data)).decode())


def header_value(text: str) -> str:
    """``text`` as a CloudEvents HTTP header value (percent-encoded UTF-8 outside ASCII)."""
    return quote(text, safe=_HEADER_SAFE)


class Deliverer:
    """Worker threads that POST spooled CloudEvents to the function with retries."""

    def __init__(
        self, function_url: str, spool: Spool, workers: int = 4, max_attempts: int = MAX_ATTEMPTS
    ) -> None:
        self.function_url = function_url
        self.max_attempts = max_attempts
        self.spool = spool
        self.queue: queue.Queue[Path | None] = queue.Queue()
        self.queued: set[Path] = set()
        self.lock = threading.Lock()
        self.client = httpx.Client(timeout=60.0)
        self.threads = [
            threading.Thread(target=self._run, name=f"deliver-{i}", daemon=True)
            for i in range(workers)
        ]
        self.threads.append(threading.Thread(target=self._scan, name="scan", daemon=True))
        self.stopping = threading.Event()
        for thread in self.threads:
            thread.start()

    def healthy(self) -> bool:
        return all(thread.is_alive() for thread in self.threads)

    def submit(self, path: Path) -> None:
        with self.lock:
            if path in self.queued:
                return
            self.queued.add(path)
        self.queue.put(path)

    def _scan(self) -> None:
        """Pick up what is pending but not queued: events of a previous run, replays."""
        while not self.stopping.wait(SCAN_S):
            for path in sorted(self.spool.pending.glob("*.json")):
                self.submit(path)

    def _run(self) -> None:
        while (path := self.queue.get()) is not None:
            try:
                self._deliver(path)
            except Exception as exc:  # never lose a worker: the event is dead-lettered instead
                log.exception("cannot deliver %s", path.name)
                self._give_up(path, f"{type(exc).__name__}: {exc}")
            finally:
                with self.lock:
                    self.queued.discard(path)

    def _give_up(self, path: Path, error: str) -> None:
        try:
            delivery = self.spool.load(path)
        except (OSError, ValueError, TypeError):
            delivery = Delivery(path.stem, {}, "", error=error)
        delivery.error = error
        self.spool.dead_letter(path, delivery)

    def _deliver(self, path: Path) -> None:
        if not path.exists():
            return
        item = self.spool.load(path)
        backoff = FIRST_BACKOFF_S
        while item.attempts < self.max_attempts:
            item.attempts += 1
            try:
                response = self.client.post(
                    self.function_url, headers=item.headers, content=item.payload()
                )
                if response.status_code < 300:
                    log.info("delivered %s %s", item.headers["ce-type"], item.headers["ce-subject"])
                    self.spool.done(path)
                    return
                item.error = f"function answered {response.status_code}: {response.text[:300]}"
            except httpx.HTTPError as exc:
                item.error = f"cannot reach the function: {exc!r}"
            log.warning("attempt %d for %s: %s", item.attempts, item.event_id, item.error)
            time.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)
        self.spool.dead_letter(path, item)

    def stop(self) -> None:
        self.stopping.set()
        for _ in self.threads:
            self.queue.put(None)


def make_handlers(deliverer: Deliverer) -> list[grpc.GenericRpcHandler]:
    """The gRPC Publisher service fake-gcs-server talks to, and a health service."""

    def publish(request: ps.PublishRequest, context: grpc.ServicerContext) -> ps.PublishResponse:
        ids = []
        for message in request.messages:
            message_id = uuid.uuid4().hex
            ids.append(message_id)
            delivery = to_cloudevent(message, message_id)
            if delivery is not None:  # on disk before the publisher hears "accepted"
                deliverer.submit(deliverer.spool.add(delivery))
        return ps.PublishResponse(message_ids=ids)

    def get_topic(request: ps.GetTopicRequest, context: grpc.ServicerContext) -> ps.Topic:
        return ps.Topic(name=request.topic)

    def create_topic(request: ps.Topic, context: grpc.ServicerContext) -> ps.Topic:
        return ps.Topic(name=request.name)

    def check(request: bytes, context: grpc.ServicerContext) -> bytes:
        return SERVING if deliverer.healthy() else NOT_SERVING

    def unary(fn, request_type, response_type):  # type: ignore[no-untyped-def]
        return grpc.unary_unary_rpc_method_handler(
            fn,
            request_deserializer=request_type.deserialize,
            response_serializer=response_type.serialize,
        )

    return [
        grpc.method_handlers_generic_handler(
            "google.pubsub.v1.Publisher",
            {
                "Publish": unary(publish, ps.PublishRequest, ps.PublishResponse),
                "GetTopic": unary(get_topic, ps.GetTopicRequest, ps.Topic),
                "CreateTopic": unary(create_topic, ps.Topic, ps.Topic),
            },
        ),
        grpc.method_handlers_generic_handler(
            "grpc.health.v1.Health", {"Check": grpc.unary_unary_rpc_method_handler(check)}
        ),
    ]


def serve(
    port: int,
    function_url: str,
    spool_dir: Path,
    host: str = "127.0.0.1",
    max_attempts: int = MAX_ATTEMPTS,
) -> None:
    """Serve until SIGTERM/SIGINT."""
    deliverer = Deliverer(function_url, Spool(spool_dir), max_attempts=max_attempts)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers(make_handlers(deliverer))
    server.add_insecure_port(f"{host}:{port}")
    server.start()
    log.info("eventarc bridge on %s:%d -> %s (spool %s)", host, port, function_url, spool_dir)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop(grace=2)
    deliverer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--function-url", required=True)
    parser.add_argument("--spool", default=os.path.join(".mlsys", "events"))
    parser.add_argument("--max-attempts", type=int, default=MAX_ATTEMPTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    serve(args.port, args.function_url, Path(args.spool), args.host, args.max_attempts)


if __name__ == "__main__":
    main()
