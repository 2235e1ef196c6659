"""An Eventarc stand-in for the local stack.

fake-gcs-server publishes object notifications to a Pub/Sub endpoint over gRPC. This module is
that endpoint: a minimal ``google.pubsub.v1.Publisher`` (``Publish``, ``GetTopic``,
``CreateTopic``) that turns each message into a binary-mode CloudEvent and POSTs it to the
registry function, the way Eventarc does: at least once, with retries and backoff, from several
workers at once (so events for one object may arrive out of order, as in production).

Run: ``python -m mlsys.local.bridge --port P --function-url URL``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import queue
import signal
import threading
import time
import uuid
from concurrent import futures
from dataclasses import dataclass

import grpc
import httpx
from google.pubsub_v1 import types as ps

log = logging.getLogger("mlsys.local.bridge")

#: Pub/Sub notification eventType -> CloudEvent type, as Eventarc maps them.
EVENT_TYPES = {
    "OBJECT_FINALIZE": "google.cloud.storage.object.v1.finalized",
    "OBJECT_DELETE": "google.cloud.storage.object.v1.deleted",
    "OBJECT_METADATA_UPDATE": "google.cloud.storage.object.v1.metadataUpdated",
    "OBJECT_ARCHIVE": "google.cloud.storage.object.v1.archived",  # not sent by fake-gcs-server
}

#: Delivery retry policy: like an Eventarc trigger with retries on, but bounded for a laptop.
MAX_ATTEMPTS = 8
FIRST_BACKOFF_S = 0.2
MAX_BACKOFF_S = 5.0


@dataclass(frozen=True)
class Delivery:
    event_id: str
    headers: dict[str, str]
    body: bytes


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
        "ce-source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
        "ce-subject": f"objects/{name}",
        "ce-time": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
        "content-type": "application/json",
    }
    return Delivery(message_id, headers, bytes(message.data))


class Deliverer:
    """Worker threads that POST CloudEvents to the function with retries."""

    def __init__(self, function_url: str, workers: int = 4) -> None:
        self.function_url = function_url
        self.queue: queue.Queue[Delivery | None] = queue.Queue()
        self.client = httpx.Client(timeout=60.0)
        self.threads = [
            threading.Thread(target=self._run, name=f"deliver-{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in self.threads:
            thread.start()

    def submit(self, delivery: Delivery) -> None:
        self.queue.put(delivery)

    def _run(self) -> None:
        while (item := self.queue.get()) is not None:
            self._deliver(item)

    def _deliver(self, item: Delivery) -> None:
        backoff = FIRST_BACKOFF_S
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                response = self.client.post(
                    self.function_url, headers=item.headers, content=item.body
                )
                if response.status_code < 300:
                    log.info(
                        "delivered %s %s -> %s",
                        item.headers["ce-type"],
                        item.headers["ce-subject"],
                        response.status_code,
                    )
                    return
                log.warning(
                    "attempt %d: function answered %s for %s: %s",
                    attempt,
                    response.status_code,
                    item.event_id,
                    response.text[:300],
                )
            except httpx.HTTPError as exc:
                log.warning(
                    "attempt %d: cannot reach function for %s: %s", attempt, item.event_id, exc
                )
            time.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)
        log.error("DEAD-LETTER: gave up on %s after %d attempts", item.event_id, MAX_ATTEMPTS)

    def stop(self) -> None:
        for _ in self.threads:
            self.queue.put(None)


def make_handler(deliverer: Deliverer) -> grpc.GenericRpcHandler:
    """The gRPC Publisher service fake-gcs-server talks to."""

    def publish(request: ps.PublishRequest, context: grpc.ServicerContext) -> ps.PublishResponse:
        ids = []
        for message in request.messages:
            message_id = uuid.uuid4().hex
            ids.append(message_id)
            delivery = to_cloudevent(message, message_id)
            if delivery is not None:
                deliverer.submit(delivery)
        return ps.PublishResponse(message_ids=ids)

    def get_topic(request: ps.GetTopicRequest, context: grpc.ServicerContext) -> ps.Topic:
        return ps.Topic(name=request.topic)

    def create_topic(request: ps.Topic, context: grpc.ServicerContext) -> ps.Topic:
        return ps.Topic(name=request.name)

    def unary(fn, request_type, response_type):  # type: ignore[no-untyped-def]
        return grpc.unary_unary_rpc_method_handler(
            fn,
            request_deserializer=request_type.deserialize,
            response_serializer=response_type.serialize,
        )

    return grpc.method_handlers_generic_handler(
        "google.pubsub.v1.Publisher",
        {
            "Publish": unary(publish, ps.PublishRequest, ps.PublishResponse),
            "GetTopic": unary(get_topic, ps.GetTopicRequest, ps.Topic),
            "CreateTopic": unary(create_topic, ps.Topic, ps.Topic),
        },
    )


def serve(port: int, function_url: str, host: str = "127.0.0.1") -> None:
    """Serve until SIGTERM/SIGINT."""
    deliverer = Deliverer(function_url)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((make_handler(deliverer),))
    server.add_insecure_port(f"{host}:{port}")
    server.start()
    log.info("eventarc bridge on %s:%d -> %s", host, port, function_url)
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
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    serve(args.port, args.function_url, args.host)


if __name__ == "__main__":
    main()
