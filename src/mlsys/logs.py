"""Structured logs: one JSON object per line, in the shape Cloud Logging reads from the stdout
of Cloud Run and Cloud Functions (``severity``, ``message``, ``logging.googleapis.com/trace``,
``logging.googleapis.com/labels``...), with the job id, model and version as fields.

The service, the registry function and the prediction job call :func:`configure_logging` once
at start; code binds fields for a stretch of work with :func:`log_context` (context variables:
they follow a request or a job through its calls, and into the threads started with
:func:`contextvars.copy_context`). ``MLSYS_LOG_FORMAT=text`` prints plain lines instead.
Only the standard library: the registry function imports this.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

TRACE = "logging.googleapis.com/trace"
SPAN = "logging.googleapis.com/spanId"
SAMPLED = "logging.googleapis.com/trace_sampled"
LABELS = "logging.googleapis.com/labels"
SOURCE = "logging.googleapis.com/sourceLocation"
#: Fields a job binds (and the console, the CLI and BigQuery call them the same).
JOB_FIELDS = ("job_id", "model", "version")

_CONTEXT: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "mlsys_log_context", default=None
)
_CLOUD_TRACE_RE = re.compile(r"^([0-9a-fA-F]{1,32})(?:/([0-9]+))?(?:;o=([01]))?")
_TRACEPARENT_RE = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def current_context() -> dict[str, Any]:
    """The fields bound in this context (a copy)."""
    return dict(_CONTEXT.get() or {})


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add ``fields`` (None values skipped) to every record logged inside the block."""
    token = _CONTEXT.set(
        {**current_context(), **{k: v for k, v in fields.items() if v is not None}}
    )
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def trace_fields(
    project: str, *, cloud_trace: str | None = None, traceparent: str | None = None
) -> dict[str, Any]:
    """The Cloud Logging trace fields of an ``X-Cloud-Trace-Context`` (``TRACE/SPAN;o=1``) or
    a W3C ``traceparent`` header; {} when neither is usable."""
    if cloud_trace and (match := _CLOUD_TRACE_RE.match(cloud_trace.strip())):
        trace, span, sampled = match.groups()
        fields: dict[str, Any] = {TRACE: f"projects/{project}/traces/{trace.lower()}"}
        if span:
            fields[SPAN] = format(int(span), "016x")  # decimal in the header, hex in the entry
        if sampled is not None:
            fields[SAMPLED] = sampled == "1"
        return fields
    if traceparent and (match := _TRACEPARENT_RE.match(traceparent.strip().lower())):
        trace, span, flags = match.groups()
        return {
            TRACE: f"projects/{project}/traces/{trace}",
            SPAN: span,
            SAMPLED: bool(int(flags, 16) & 1),
        }
    return {}


_SEVERITY = {
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARNING",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "CRITICAL",
}


class CloudLoggingFormatter(logging.Formatter):
    """A record as one line of JSON that Cloud Logging turns into a structured entry."""

    def __init__(self, component: str) -> None:
        super().__init__()
        self.component = component

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:  # Error Reporting reads the stack trace from the message
            message = f"{message}\n{self.formatException(record.exc_info)}"
        entry: dict[str, Any] = {
            "severity": _SEVERITY.get(record.levelno, record.levelname),
            "message": message,
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "logger": record.name,
            LABELS: {"component": self.component},
            SOURCE: {"file": record.pathname, "line": record.lineno, "function": record.funcName},
        }
        entry.update(current_context())  # handlers run in the thread that logged
        fields = getattr(record, "fields", None)  # logger.info(..., extra={"fields": {...}})
        if isinstance(fields, dict):
            entry.update(fields)
        return json.dumps(entry, default=str)


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is when a record is emitted (test runners, notebooks
    and servers may swap it after start-up)."""

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        """The stream is always the current stdout."""


def configure_logging(component: str, *, level: str | None = None, fmt: str | None = None) -> None:
    """Send every log record to stdout as Cloud Logging JSON (or text); idempotent.

    uvicorn's own loggers are routed through the same handler, so its lines are JSON too."""
    if level is None or fmt is None:
        from mlsys.settings import get_settings

        settings = get_settings()
        level, fmt = level or settings.log_level, fmt or settings.log_format
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "mlsys", False):  # ours, from an earlier call
            root.removeHandler(handler)
    handler = _StdoutHandler()
    handler.mlsys = True  # type: ignore[attr-defined]
    if fmt == "json":
        handler.setFormatter(CloudLoggingFormatter(component))
    else:
        handler.setFormatter(logging.Formatter(_TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        server = logging.getLogger(name)
        server.handlers.clear()
        server.propagate = True
