"""Starting, probing and stopping the local stack's child processes."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import psutil

from mlsys.errors import LocalStackError


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ProcessRecord:
    """What ``mlsys local down`` needs to stop exactly the process it started."""

    name: str
    pid: int
    create_time: float
    port: int
    url: str
    log: str
    command: list[str]
    restarts: int = 0  # times the supervisor started it again after a death or a failed probe
    last_restart: float = 0.0
    last_reason: str = ""

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def is_running(self) -> bool:
        """True only if the pid is alive AND is the same process (pids get reused)."""
        try:
            proc = psutil.Process(self.pid)
            return (
                abs(proc.create_time() - self.create_time) < 1.0
                and proc.status() != psutil.STATUS_ZOMBIE
            )
        except psutil.Error:
            return False


def spawn(
    name: str,
    command: list[str],
    *,
    port: int,
    url: str,
    log_path: Path,
    env: dict[str, str],
    cwd: Path,
) -> ProcessRecord:
    """Start ``command`` detached in its own session, output appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log_file:
        proc = subprocess.Popen(
            command,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,  # outlives `mlsys local up`; killed as a group by `down`
        )
    create_time = psutil.Process(proc.pid).create_time()
    return ProcessRecord(name, proc.pid, create_time, port, url, str(log_path), command)


def log_tail(path: str | Path, lines: int = 25) -> str:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.rstrip().splitlines()[-lines:]) or "(empty log)"


def http_ready(url: str, timeout: float = 1.0) -> Callable[[], bool]:
    """A probe: the URL answers with any status below 500."""

    def probe() -> bool:
        try:
            return httpx.get(url, timeout=timeout).status_code < 500
        except httpx.HTTPError:
            return False

    return probe


def tcp_ready(port: int) -> Callable[[], bool]:
    def probe() -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return True
        return False

    return probe


def grpc_ready(target: str) -> Callable[[], bool]:
    """A probe: the standard ``grpc.health.v1.Health/Check`` answers SERVING."""

    def probe() -> bool:
        import grpc

        try:
            with grpc.insecure_channel(target) as channel:
                check = channel.unary_unary("/grpc.health.v1.Health/Check")
                return bool(check(b"", timeout=2.0) == SERVING)
        except grpc.RpcError:
            return False

    return probe


#: ``HealthCheckResponse{status: SERVING}`` serialized (field 1, varint 1).
SERVING = b"\x08\x01"
NOT_SERVING = b"\x08\x02"


def probe_for(target: str, timeout: float = 2.0) -> Callable[[], bool]:
    """The probe of a target: ``http(s)://`` (status below 500), ``tcp://host:port`` (accepts
    connections) or ``grpc://host:port`` (gRPC health check)."""
    if target.startswith("tcp://"):
        return tcp_ready(int(target.rsplit(":", 1)[1]))
    if target.startswith("grpc://"):
        return grpc_ready(target.removeprefix("grpc://"))
    return http_ready(target, timeout)


def probes_pass(targets: list[str]) -> bool:
    return all(probe_for(t)() for t in targets)


def wait_ready(
    records: dict[str, ProcessRecord],
    probes: dict[str, Callable[[], bool]],
    timeout: float,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Poll every probe until all pass; a process that dies is reported with its log tail."""
    pending = dict(probes)
    deadline = time.monotonic() + timeout
    while pending:
        for name in list(pending):
            record = records[name]
            if not record.is_running():
                raise LocalStackError(
                    f"{name} exited during start-up (command: {' '.join(record.command)}).\n"
                    f"Last lines of {record.log}:\n{log_tail(record.log)}"
                )
            if pending[name]():
                del pending[name]
                if on_ready:
                    on_ready(name)
        if not pending:
            return
        if time.monotonic() > deadline:
            name = next(iter(pending))
            raise LocalStackError(
                f"{name} did not become ready within {timeout:.0f}s.\n"
                f"Last lines of {records[name].log}:\n{log_tail(records[name].log)}"
            )
        time.sleep(0.05)


def stop(record: ProcessRecord, timeout: float = 10.0) -> bool:
    """Stop the process group of ``record`` if it is still the process we started."""
    if not record.is_running():
        return False
    try:
        pgid = os.getpgid(record.pid)
    except ProcessLookupError:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    if not _wait_gone(record, timeout):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        _wait_gone(record, 5.0)
    return True


def _wait_gone(record: ProcessRecord, timeout: float) -> bool:
    """Wait until the process has exited (a zombie counts as exited: its parent reaps it)."""
    deadline = time.monotonic() + timeout
    while record.is_running():
        if time.monotonic() > deadline:
            return False
        with contextlib.suppress(psutil.Error, ChildProcessError):
            psutil.Process(record.pid).wait(0.05)
    return True
