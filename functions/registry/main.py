"""The registry Cloud Function: GCS object events (via Eventarc) -> the BigQuery model registry.

A thin shell: it hands the CloudEvent to :func:`mlsys.registry.handle_cloudevent`. Returning
normally acknowledges the event (also for rejected uploads, which are recorded with their
reason); an exception (a backend that could not be reached) makes Eventarc retry.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent
from flask import request

from mlsys.logs import configure_logging, log_context, trace_fields
from mlsys.registry import handle_cloudevent
from mlsys.settings import get_settings

configure_logging("function")


@functions_framework.cloud_event
def on_gcs_event(event: CloudEvent) -> None:
    """Entry point named in Terraform and in ``mlsys local up``."""
    settings = get_settings()
    trace = trace_fields(
        settings.project_for(settings.mlsys_env),
        cloud_trace=request.headers.get("X-Cloud-Trace-Context"),
        traceparent=request.headers.get("traceparent"),
    )
    with log_context(cloudevent_id=event["id"], **trace):
        handle_cloudevent(
            event["type"],
            event.get_data() or {},
            ce_id=event["id"],
            ce_time=event.get("time"),
        )
