"""Extra instances of the real service (uvicorn, own process) in front of backends that fail.

What cannot run on the emulators is stood in for at the HTTP level, never by patching clients:

- :class:`FaultServer` answers every BigQuery and Cloud Storage REST call with one error, in
  Google's own JSON error format (a refused grant, a quota, a body that is not JSON), so the
  official clients raise exactly what they raise on Google Cloud;
- a service with no emulator configured and a credentials file that does not exist stands for a
  deployment whose identity cannot get a token.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from mlsys.local import processes

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Fault:
    """One canned answer: status, Google error reason, and the raw body when not an error."""

    status: int
    reason: str | None = None
    raw: bytes | None = None

    def body(self) -> bytes:
        if self.raw is not None:
            return self.raw
        message = f"simulated {self.reason} for the test"
        errors = [{"reason": self.reason, "message": message, "domain": "global"}]
        error = {"code": self.status, "message": message, "errors": errors}
        return json.dumps({"error": error}).encode()


FAULTS = {
    # BigQuery answers 403 both for a missing grant and for quotas; the reason tells them apart.
    "forbidden": Fault(403, "accessDenied"),
    "quota": Fault(403, "quotaExceeded"),
    # A 200 whose body is not JSON: the client raises an error nobody expects.
    "garbage": Fault(200, raw=b"<html>not json</html>"),
}


class FaultServer:
    """A local HTTP server answering every request with the current fault."""

    def __init__(self) -> None:
        self.fault = FAULTS["forbidden"]
        self.requests: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                owner.requests.append(f"{self.command} {self.path}")
                body = owner.fault.body()
                self.send_response(owner.fault.status)
                kind = "application/json" if owner.fault.raw is None else "text/html"
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


_STACK_VARS = ("STORAGE_EMULATOR_HOST", "BIGQUERY_EMULATOR_HOST", "BIGQUERY_STORAGE_EMULATOR_HOST")


class ServiceProcess:
    """``uvicorn service.main:app`` in its own process, with its own environment; it dies with
    the test process even when that one is killed (no leftover servers)."""

    def __init__(self, name: str, env: dict[str, str], workdir: Path) -> None:
        port = processes.free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log = workdir / f"{name}.log"
        base = {k: v for k, v in os.environ.items() if k not in _STACK_VARS}
        base = {k: v for k, v in base.items() if not k.startswith("MLSYS_")}
        command = [sys.executable, "-m", "uvicorn", "service.main:app", "--app-dir", str(ROOT)]
        command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
        with self.log.open("ab") as log:
            # The working folder has no .env nor .mlsys/local.env: only ``env`` configures it.
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**base, "PYTHONPATH": str(ROOT), **env},
                cwd=workdir,
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + 60
        ready = processes.http_ready(f"{self.url}/health")
        while not ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{name} did not start:\n{processes.log_tail(self.log)}")
            time.sleep(0.2)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _die_with_parent() -> None:
    """In the child: the kernel sends SIGTERM when the test process dies (Linux prctl)."""
    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def faulty_service(server: FaultServer, workdir: Path) -> ServiceProcess:
    """The service with BigQuery and Cloud Storage answered by ``server``."""
    env = {
        "GCP_PROJECT_ID": "mlsys-local",
        "STORAGE_EMULATOR_HOST": server.url,
        "BIGQUERY_EMULATOR_HOST": server.url,
        "BIGQUERY_STORAGE_EMULATOR_HOST": server.url.removeprefix("http://"),
    }
    return ServiceProcess("faulty-service", env, workdir)


def uncredentialed_service(workdir: Path) -> ServiceProcess:
    """The service on "Google Cloud" (no emulator) with no usable credentials."""
    env = {
        "GCP_PROJECT_ID": "mlsys-local",
        "GOOGLE_APPLICATION_CREDENTIALS": str(workdir / "no-such-key.json"),
        "GOOGLE_CLOUD_PROJECT": "mlsys-local",
    }
    return ServiceProcess("uncredentialed-service", env, workdir)
