"""Structured logs in Cloud Logging's JSON format: the formatter, trace headers, and the three
entry points (service, function, job) writing them."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import httpx
import pytest

from mlsys.logs import (
    LABELS,
    SAMPLED,
    SPAN,
    TRACE,
    CloudLoggingFormatter,
    log_context,
    trace_fields,
)
from tests.conftest import ROOT
from tests.registry.conftest import wait_until

# Trace and span ids in the headers' formats (repeated patterns: not secrets).
CLOUD_TRACE = "1a2b" * 8
W3C_TRACE, W3C_SPAN = "4bf9" * 8, "00f0" * 4


def entries_of(text: str) -> list[dict]:
    """The JSON lines of a log (other lines, e.g. a server's own banner, are skipped)."""
    found = []
    for line in text.splitlines():
        if line.startswith("{"):
            found.append(json.loads(line))
    return found


@pytest.fixture
def captured():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(CloudLoggingFormatter("test"))
    logger = logging.getLogger("mlsys.test-logs")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


@pytest.mark.parametrize(
    ("cloud_trace", "traceparent", "expected"),
    [
        (
            f"{CLOUD_TRACE}/1;o=1",
            None,
            {
                TRACE: f"projects/p/traces/{CLOUD_TRACE}",
                SPAN: "0000000000000001",
                SAMPLED: True,
            },
        ),
        (
            CLOUD_TRACE,
            None,
            {TRACE: f"projects/p/traces/{CLOUD_TRACE}"},
        ),
        (
            None,
            f"00-{W3C_TRACE}-{W3C_SPAN}-01",
            {
                TRACE: f"projects/p/traces/{W3C_TRACE}",
                SPAN: W3C_SPAN,
                SAMPLED: True,
            },
        ),
        ("not a trace", "garbage", {}),
        (None, None, {}),
    ],
)
def test_trace_headers_become_cloud_logging_fields(cloud_trace, traceparent, expected):
    assert trace_fields("p", cloud_trace=cloud_trace, traceparent=traceparent) == expected


def test_a_record_is_one_json_line_with_severity_context_and_fields(captured):
    logger, stream = captured
    with (
        log_context(job_id="j1", model="m", version=3),
        log_context(**{TRACE: "projects/p/traces/t"}),
    ):
        logger.warning("scored %d rows", 10, extra={"fields": {"rows": 10}})
    logger.info("outside")
    first, second = entries_of(stream.getvalue())
    assert first["severity"] == "WARNING" and first["message"] == "scored 10 rows"
    assert (first["job_id"], first["model"], first["version"], first["rows"]) == ("j1", "m", 3, 10)
    assert first[TRACE] == "projects/p/traces/t" and first[LABELS] == {"component": "test"}
    assert "job_id" not in second and second["severity"] == "INFO"


def test_an_exception_keeps_its_stack_trace_in_the_message(captured):
    logger, stream = captured
    try:
        raise RuntimeError("kaput")
    except RuntimeError:
        logger.exception("job failed")
    (entry,) = entries_of(stream.getvalue())
    assert entry["severity"] == "ERROR" and "RuntimeError: kaput" in entry["message"]


def test_context_stays_in_its_own_thread(captured):
    logger, stream = captured

    def other():
        logger.info("from another job")

    with log_context(job_id="mine"):
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    (entry,) = entries_of(stream.getvalue())
    assert "job_id" not in entry


def _log_of(stack, component: str) -> str:
    return Path(stack.records[component].log).read_text(encoding="utf-8", errors="replace")


def test_the_function_logs_json_with_the_events_trace_and_model(stack, unique):
    from tests.registry.test_function import FINALIZED

    trace = uuid.uuid4().hex
    name = f"logged-{unique}/v1/model.pkl"
    from mlsys.gcs import gcs_put

    generation = gcs_put(b"abc", "mlsys-models-dev", name)
    headers = {
        "ce-id": uuid.uuid4().hex,
        "ce-specversion": "1.0",
        "ce-type": FINALIZED,
        "ce-source": "//storage.googleapis.com/projects/_/buckets/mlsys-models-dev",
        "ce-subject": f"objects/{name}",
        "content-type": "application/json",
        "X-Cloud-Trace-Context": f"{trace}/7;o=1",
    }
    body = {"bucket": "mlsys-models-dev", "name": name, "generation": str(generation), "size": "3"}
    response = httpx.post(stack.env["MLSYS_FUNCTION_URL"], headers=headers, json=body, timeout=60)
    assert response.status_code < 300, response.text

    def traced():
        return [
            e for e in entries_of(_log_of(stack, "function")) if e.get(TRACE, "").endswith(trace)
        ]

    wait_until(traced)
    (entry,) = traced()
    assert (
        entry["severity"] == "INFO"
        and entry["model"] == f"logged-{unique}"
        and entry["version"] == 1
    )
    assert entry[LABELS] == {"component": "function"} and entry[SPAN] == "0000000000000007"


def test_the_job_logs_json_with_its_job_id(stack):
    job_id = f"nojob-{uuid.uuid4().hex[:8]}"
    done = subprocess.run(
        [sys.executable, "-m", "mlsys.predict.task", "--env", "dev", "--job-id", job_id],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    errors = [e for e in entries_of(done.stdout) if e["severity"] == "ERROR"]
    assert errors and errors[-1]["job_id"] == job_id and errors[-1][LABELS] == {"component": "job"}
