"""The registry Cloud Function: GCS object events (via Eventarc) -> the BigQuery model registry.

A thin shell: it hands the CloudEvent to :func:`mlsys.registry.events.handle_event` and lets
functions-framework turn the outcome into an HTTP status. Returning normally acknowledges the
event; raising makes Eventarc retry (only for transient backend errors, never for bad input).
"""

from __future__ import annotations

import logging

import functions_framework
from cloudevents.http import CloudEvent

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
log = logging.getLogger("mlsys.function")


@functions_framework.cloud_event
def on_gcs_event(event: CloudEvent) -> None:
    """Entry point named in Terraform and in ``mlsys local up``."""
    log.info("received %s %s", event["type"], event.get("subject"))
