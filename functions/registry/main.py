"""The registry Cloud Function: GCS object events (via Eventarc) -> the BigQuery model registry.

A thin shell: it hands the CloudEvent to :func:`mlsys.registry.handle_cloudevent`. Returning
normally acknowledges the event (also for rejected uploads, which are recorded with their
reason); an exception (a backend that could not be reached) makes Eventarc retry.
"""

from __future__ import annotations

import logging

import functions_framework
from cloudevents.http import CloudEvent

from mlsys.registry import handle_cloudevent

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")


@functions_framework.cloud_event
def on_gcs_event(event: CloudEvent) -> None:
    """Entry point named in Terraform and in ``mlsys local up``."""
    handle_cloudevent(
        event["type"],
        event.get_data() or {},
        ce_id=event["id"],
        ce_time=event.get("time"),
    )
