"""A local HTTP stand-in of the Cloud Run Admin API v2 (REST), for the launcher's tests.

The real API cannot run here. This fake answers the two calls mlsys makes — ``jobs.run``
(``POST /v2/{job}:run``, an Operation whose metadata is the new Execution) and
``executions.get`` (``GET /v2/{execution}``) — and records every request it receives.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

EXECUTION_TYPE = "type.googleapis.com/google.cloud.run.v2.Execution"


@dataclass
class FakeRun:
    url: str
    requests: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    executions: dict[str, dict[str, Any]] = field(default_factory=dict)
    missing_jobs: set[str] = field(default_factory=set)


def _handler(state: FakeRun) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep pytest output clean
            return

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            path = self.path.split("?")[0]
            state.requests.append(("POST", path, body))
            job = path.removeprefix("/v2/").removesuffix(":run")
            if not path.endswith(":run") or job.rsplit("/", 1)[-1] in state.missing_jobs:
                self._reply(
                    404,
                    {"error": {"code": 404, "message": f"{job} not found", "status": "NOT_FOUND"}},
                )
                return
            number = len(state.executions) + 1
            name = f"{job}/executions/exec-{number}"
            overrides = body.get("overrides", {})
            execution = {
                "name": name,
                "job": job.rsplit("/", 1)[-1],
                "taskCount": overrides.get("taskCount", 1),
                "runningCount": overrides.get("taskCount", 1),
            }
            state.executions[name] = execution
            self._reply(
                200,
                {
                    "name": f"{job.rsplit('/jobs/', 1)[0]}/operations/op-{number}",
                    "metadata": {"@type": EXECUTION_TYPE, **execution},
                    "done": False,
                },
            )

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            state.requests.append(("GET", path, {}))
            execution = state.executions.get(path.removeprefix("/v2/"))
            if execution is None:
                self._reply(
                    404,
                    {"error": {"code": 404, "message": "no such execution", "status": "NOT_FOUND"}},
                )
            else:
                self._reply(200, execution)

    return Handler


@contextmanager
def fake_cloud_run() -> Iterator[FakeRun]:
    """The stand-in on a free loopback port, for the duration of the block."""
    state = FakeRun(url="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
