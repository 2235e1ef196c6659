"""``mlsys local up|status|restart|down``: the whole GCP stack of mlsys on loopback ports.

``up`` plans the stack (free ports, endpoints, the commands of :mod:`mlsys.local.components`),
writes the plan to ``.mlsys/state.json`` and starts the supervisor (:mod:`mlsys.local.supervisor`),
which starts every component, restarts any that dies and records what it did there. ``up`` on a
running stack reuses it (what died is started again, nothing else is touched). Endpoints are
exported in ``.mlsys/local.env``, which every mlsys command and the library read.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mlsys.errors import LocalStackError
from mlsys.local import processes, state
from mlsys.local.components import (
    COMPONENTS,
    PORTS,
    ComponentSpec,
    build_specs,
    direct_endpoints,
    endpoints,
)
from mlsys.local.processes import ProcessRecord
from mlsys.local.state import StackState
from mlsys.settings import LOCAL_DIR_NAME, LOCAL_ENV_NAME, find_project_root

#: A project per environment, as on Google Cloud (the tested default layout). GCP_PROJECT_ID is the
#: dev project, so the seed's notebook code keeps working unchanged.
PROJECTS = {"dev": "mlsys-local-dev", "staging": "mlsys-local-staging", "prod": "mlsys-local-prod"}
#: ``layout="single"``: every environment in one project (the other supported layout).
SINGLE_PROJECT = "mlsys-local"
PROJECT_ID = PROJECTS["dev"]
STARTUP_TIMEOUT_S = 180.0
PORT_ATTEMPTS = 3
#: What a stack keeps under its state folder while it runs: emulator data, the bridge's event
#: spool and dead letters, Cloud Run executions, restart requests. `down` removes them.
DATA_FOLDERS = ("data", "events", "executions", "control")
_PORT_CLASH = ("address already in use", "failed to bind", "bind: address")


def _is_port_clash(message: str) -> bool:
    return any(marker in message.lower() for marker in _PORT_CLASH)


@dataclass
class StackInfo:
    """A running stack: its processes and the ``KEY=value`` endpoints it exports."""

    root: Path
    records: dict[str, ProcessRecord]
    env: dict[str, str]
    started_at: float
    startup_seconds: float = 0.0
    extra: dict[str, object] = field(default_factory=dict)
    #: True when `up` found the stack running and reused it.
    reused: bool = False


@dataclass(frozen=True)
class Health:
    """One component as `mlsys local status` shows it."""

    name: str
    pid: int
    running: bool
    healthy: bool
    restarts: int
    last_reason: str
    url: str
    log: str


class LocalStack:
    """Start, inspect, restart and stop the local stack rooted at a project folder."""

    def __init__(
        self, root: Path | None = None, state_dir: Path | None = None, *, layout: str = "per-env"
    ) -> None:
        if layout not in ("per-env", "single"):
            raise ValueError(f"layout {layout!r}: expected 'per-env' or 'single'")
        self.layout = layout
        self.root = (root or find_project_root()).resolve()
        self.state_dir = state_dir or self.root / LOCAL_DIR_NAME
        self.state_file = self.state_dir / "state.json"
        self.env_file = self.state_dir / LOCAL_ENV_NAME

    # -- inspection ------------------------------------------------------------------------
    def state(self) -> StackState | None:
        return state.load(self.state_file)

    def read(self) -> StackInfo | None:
        """The recorded stack, or None when nothing was started here."""
        found = self.state()
        if found is None:
            return None
        return StackInfo(
            self.root,
            self._records(found),
            found.env,
            found.started_at,
            found.startup_seconds,
            extra={"direct": found.direct, "phase": found.phase, "state_dir": str(self.state_dir)},
        )

    @staticmethod
    def _records(found: StackState) -> dict[str, ProcessRecord]:
        records = dict(found.records)
        if found.supervisor is not None:
            records["supervisor"] = found.supervisor
        return records

    def status(self) -> dict[str, bool]:
        """Which processes run (pid alive and the same process)."""
        found = self.state()
        return {} if found is None else {n: r.is_running() for n, r in self._records(found).items()}

    def is_running(self) -> bool:
        status = self.status()
        return bool(status) and all(status.values())

    def health(self) -> list[Health]:
        """Every component's process and the live answer of its probes (REAL health)."""
        found = self.state()
        if found is None:
            return []
        report = []
        for name, record in self._records(found).items():
            running = record.is_running()
            spec = found.specs.get(name)
            healthy = running and (spec is None or processes.probes_pass(spec.probes))
            report.append(
                Health(
                    name,
                    record.pid,
                    running,
                    healthy,
                    record.restarts,
                    record.last_reason,
                    record.url,
                    record.log,
                )
            )
        return report

    # -- start -----------------------------------------------------------------------------
    def up(
        self,
        *,
        on_ready: Callable[[str], None] | None = None,
        components: tuple[str, ...] | None = None,
        owner_pid: int | None = None,
    ) -> StackInfo:
        """Start the stack, or reuse the one running here (starting again what died).

        With ``owner_pid`` (test sessions), the stack stops when that process dies.
        """
        found = self.state()
        if found is not None:
            if found.supervisor is not None and found.supervisor.is_running():
                return self._reused(self._wait(on_ready))
            if any(r.is_running() for r in found.records.values()):
                # The supervisor died: a new one adopts what runs and starts what does not.
                found.phase, found.ready, found.supervisor = state.STARTING, [], None
                state.save(self.state_file, found)
                self._start_supervisor(found.owner_pid if owner_pid is None else owner_pid)
                return self._reused(self._wait(on_ready))
            self.down()  # stale state from a stack that is gone: clean it up first
        for attempt in range(1, PORT_ATTEMPTS + 1):
            try:
                return self._up_once(on_ready, components or COMPONENTS, owner_pid)
            except LocalStackError as exc:
                # Free ports are picked before binding: another process can take one first.
                if attempt == PORT_ATTEMPTS or not _is_port_clash(exc.message):
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    def _reused(info: StackInfo) -> StackInfo:
        info.reused = True
        return info

    def _up_once(
        self,
        on_ready: Callable[[str], None] | None,
        components: tuple[str, ...],
        owner_pid: int | None,
    ) -> StackInfo:
        start = time.monotonic()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        ports = {name: processes.free_port() for name in PORTS}
        env = {**self.project_env(), **endpoints(ports, components)}
        specs = self._specs(ports, env)
        plan = StackState(
            layout=self.layout,
            env=env,
            direct=direct_endpoints(ports),
            specs={name: specs[name] for name in COMPONENTS if name in components},
            started_at=time.time(),
            owner_pid=owner_pid,
        )
        state.save(self.state_file, plan)
        try:
            self._start_supervisor(owner_pid)
            info = self._wait(on_ready)
        except BaseException:
            self.down()
            raise
        info.startup_seconds = round(time.monotonic() - start, 2)  # `up` to every probe passing
        return info

    def _specs(self, ports: dict[str, int], env: dict[str, str]) -> dict[str, ComponentSpec]:
        return build_specs(self.root, self.state_dir, ports, env)

    def project_env(self) -> dict[str, str]:
        """The project settings of this stack's layout (written to local.env)."""
        if self.layout == "single":
            return {"GCP_PROJECT_ID": SINGLE_PROJECT}
        return {
            "GCP_PROJECT_ID": PROJECTS["dev"],
            **{f"GCP_PROJECT_ID_{env.upper()}": project for env, project in PROJECTS.items()},
        }

    def _start_supervisor(self, owner_pid: int | None) -> None:
        found = self.state()
        env = self._child_env(found.env if found else {})
        command = [
            sys.executable,
            "-m",
            "mlsys.local.supervisor",
            "--state-dir",
            str(self.state_dir),
        ]
        if owner_pid is not None:
            command += ["--owner", str(owner_pid)]
        processes.spawn(
            "supervisor",
            command,
            port=0,
            url="-",
            log_path=self.state_dir / "supervisor.log",
            env=env,
            cwd=self.root,
        )

    def _wait(self, on_ready: Callable[[str], None] | None) -> StackInfo:
        """Wait for the supervisor to report the stack ready; write local.env then."""
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        announced: set[str] = set()
        spawned = time.monotonic()
        while True:
            found = self.state()
            if found is None:
                raise LocalStackError(f"the local stack's state {self.state_file} disappeared")
            for name in found.ready:
                if name not in announced and on_ready:
                    on_ready(name)
                announced.add(name)
            if found.phase == state.FAILED:
                raise LocalStackError(found.error or "the local stack failed to start")
            records = self._records(found).values()
            if found.phase == state.READY and all(r.is_running() for r in records):
                self._write_env_file(found.env)
                info = self.read()
                assert info is not None
                return info
            supervisor = found.supervisor
            if (
                supervisor is not None
                and not supervisor.is_running()
                and found.phase != state.READY
            ):
                raise LocalStackError(
                    "the local stack's supervisor exited during start-up.\n"
                    f"Last lines of {supervisor.log}:\n{processes.log_tail(supervisor.log)}"
                )
            if supervisor is None and time.monotonic() - spawned > 30:
                log = self.state_dir / "supervisor.log"
                tail = processes.log_tail(log)
                raise LocalStackError(
                    f"the supervisor did not start.\nLast lines of {log}:\n{tail}"
                )
            if time.monotonic() > deadline:
                raise LocalStackError(
                    f"the local stack did not become ready in {STARTUP_TIMEOUT_S:.0f}s"
                )
            time.sleep(0.1)

    @staticmethod
    def _child_env(env: dict[str, str]) -> dict[str, str]:
        # The stack alone decides its projects and identities: a GCP_PROJECT_ID_* or an
        # MLSYS_LOCAL_IDENTITY of the caller's shell (or of another stack) must not leak in.
        child = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PYTEST_", "GCP_PROJECT_ID_")) and k != "MLSYS_LOCAL_IDENTITY"
        }
        child.update(env)
        child.setdefault("PYTHONUNBUFFERED", "1")
        return child

    # -- restart -------------------------------------------------------------------------------
    def restart(self, name: str, timeout: float = 120.0) -> ProcessRecord:
        """Start ``name`` again now (its data is kept) and wait until its probes pass."""
        found = self.state()
        if found is None or name not in found.specs:
            known = ", ".join(found.specs) if found else "none: the stack is not running"
            raise LocalStackError(f"unknown component {name!r} (components: {known})")
        if found.supervisor is None or not found.supervisor.is_running():
            processes.stop(found.records[name])
            self.up()  # a new supervisor starts what is not running
        else:
            before = found.records[name].restarts
            (self.state_dir / "control").mkdir(exist_ok=True)
            (self.state_dir / "control" / f"restart-{name}").touch()
            self._wait_for(
                lambda s: s.records[name].restarts > before, timeout, f"{name} to restart"
            )
        spec = found.specs[name]
        self._wait_for(
            lambda s: s.records[name].is_running() and processes.probes_pass(spec.probes),
            timeout,
            f"{name} to become healthy",
        )
        after = self.state()
        assert after is not None
        return after.records[name]

    def _wait_for(self, condition: Callable[[StackState], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.state()
            if found is not None and condition(found):
                return
            time.sleep(0.1)
        raise LocalStackError(f"timed out after {timeout:.0f}s waiting for {what}")

    # -- stop ------------------------------------------------------------------------------
    def down(self) -> list[str]:
        """Stop the supervisor, then exactly the processes it started; remove the state files."""
        found = self.state()
        running: list[str] = []
        if found is not None:
            running = [n for n, r in found.records.items() if r.is_running()]
            if found.supervisor is not None and found.supervisor.is_running():
                running.append("supervisor")
                processes.stop(found.supervisor, timeout=30.0)
            found = self.state() or found  # the supervisor's last word on the pids
            for record in found.records.values():
                processes.stop(record)
        self._remove_files()
        return running

    # -- files -----------------------------------------------------------------------------
    def _write_env_file(self, env: dict[str, str]) -> None:
        lines = ["# Written by `mlsys local up`; removed by `mlsys local down`."]
        lines += [f"{key}={value}" for key, value in env.items()]
        tmp = self.env_file.with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + "\n")
        tmp.replace(self.env_file)

    def _remove_files(self) -> None:
        """The state, the endpoints and the data: the next `up` starts from empty emulators."""
        for path in (self.state_file, self.env_file):
            path.unlink(missing_ok=True)
        for folder in DATA_FOLDERS:
            shutil.rmtree(self.state_dir / folder, ignore_errors=True)
