"""The supervisor of a local stack: starts its components and starts again one that dies.

Run by ``mlsys local up`` as ``python -m mlsys.local.supervisor --state-dir DIR [--owner PID]``.
It reads the plan from the state file, starts (or adopts, when ``up`` finds some components
still running) every component, waits for their probes, creates buckets and datasets, and then
watches: a component that exits is started again on the same port, as Cloud Run starts a new
instance, after a backoff (0.5 s, doubling up to 30 s while it keeps dying within a minute of
its start); one whose probes fail three times in a row is killed and started again (Cloud Run's
liveness probe; not for the emulators, where a long query must not look like a dead database).
Restarts are counted in the state file. The emulators keep their data on disk under
``.mlsys/data``, so a restart of any component, the emulators included, loses nothing.

With ``--owner PID`` (test sessions) the stack stops when that process dies.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

from mlsys.local import processes, state
from mlsys.local.components import ComponentSpec
from mlsys.local.processes import ProcessRecord

log = logging.getLogger("mlsys.local.supervisor")

TICK_S = 0.25
STARTUP_TIMEOUT_S = 120.0
LIVENESS_PERIOD_S = 10.0
LIVENESS_FAILURES = 3
FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 30.0
STABLE_AFTER_S = 60.0  # a component that lived this long starts again without backoff
EMULATORS = ("gcs", "bigquery")


class Supervisor:
    """Keeps every component of one stack running."""

    def __init__(self, state_dir: Path, owner: int | None) -> None:
        self.state_dir = state_dir
        self.state_file = state_dir / "state.json"
        self.control = state_dir / "control"
        self.owner = owner
        loaded = state.load(self.state_file)
        if loaded is None:
            raise SystemExit(f"no stack plan in {self.state_file}")
        self.state = loaded
        me = psutil.Process()
        self.state.supervisor = ProcessRecord(
            "supervisor",
            me.pid,
            me.create_time(),
            0,
            "-",
            str(state_dir / "supervisor.log"),
            me.cmdline(),
        )
        self.state.owner_pid = owner
        self.stopping = False
        self.backoff: dict[str, float] = {}
        self.not_before: dict[str, float] = {}
        self.failures: dict[str, int] = {}
        self.next_probe: dict[str, float] = {}
        self.exit_codes: dict[int, int] = {}

    # -- start ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Start (or adopt) every component, wait for all probes, bootstrap; record the phase."""
        start = time.monotonic()
        try:
            for name, spec in self.state.specs.items():
                record = self.state.records.get(name)
                if record is None or not record.is_running():
                    self.state.records[name] = self._spawn(spec, previous=record, reason="")
            self._save()
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            emulators = tuple(n for n in EMULATORS if n in self.state.specs)
            # Buckets and datasets as soon as the emulators answer, while the rest starts.
            self._wait_ready(deadline, only=emulators)
            with ThreadPoolExecutor(1) as pool:
                bootstrap = pool.submit(self._bootstrap, emulators)
                self._wait_ready(deadline)
                bootstrap.result()
        except Exception as exc:  # reported to `mlsys local up` through the state file
            message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            self.state.phase, self.state.error = state.FAILED, message
            self._stop_all()
            self._save()
            raise SystemExit(1) from exc
        self.state.phase = state.READY
        self.state.startup_seconds = round(time.monotonic() - start, 2)
        self._save()

    def _wait_ready(self, deadline: float, only: tuple[str, ...] | None = None) -> None:
        """Probe every component not ready yet until those of ``only`` (default: all) are."""
        wanted = set(only if only is not None else self.state.specs)
        pending = [n for n in self.state.specs if n not in self.state.ready]
        while wanted & set(pending):
            for name in list(pending):
                record = self.state.records[name]
                if not record.is_running():
                    raise _failed(name, record, "exited during start-up")
                if processes.probes_pass(self.state.specs[name].probes):
                    pending.remove(name)
                    self.state.ready.append(name)
                    self._save()
            late = [n for n in pending if n in wanted]
            if time.monotonic() > deadline and late:
                raise _failed(late[0], self.state.records[late[0]], "did not become ready")
            time.sleep(0.05)

    def _bootstrap(self, emulators: tuple[str, ...]) -> None:
        """Buckets and datasets of every environment (idempotent: after a restart of an
        emulator that lost them, they come back empty; with the on-disk data they are kept)."""
        if not emulators:
            return
        from mlsys.provision import ensure_environment
        from mlsys.settings import ENVIRONMENTS

        endpoints = {**self.state.env, **self.state.direct}

        def one(env: str) -> None:
            ensure_environment(
                env,
                endpoints=endpoints,
                storage="gcs" in emulators,
                bigquery="bigquery" in emulators,
            )

        with ThreadPoolExecutor(len(ENVIRONMENTS)) as pool:
            list(pool.map(one, ENVIRONMENTS))

    # -- watch ---------------------------------------------------------------------------------
    def watch(self) -> None:
        """Restart what dies until asked to stop (SIGTERM) or the owner process is gone."""
        while not self.stopping:
            self._reap()
            if self.owner is not None and not psutil.pid_exists(self.owner):
                log.info("owner %d is gone: stopping the stack", self.owner)
                self._stop_all()
                for path in (self.state_file, self.state_dir / "local.env"):
                    path.unlink(missing_ok=True)
                return
            changed = self._handle_requests()
            for name, spec in self.state.specs.items():
                changed |= self._keep_alive(name, spec)
            if changed:
                self._save()
            time.sleep(TICK_S)
        self._stop_all()
        self._save()

    def _keep_alive(self, name: str, spec: ComponentSpec) -> bool:
        record = self.state.records[name]
        now = time.monotonic()
        if record.is_running():
            if spec.liveness and now >= self.next_probe.get(name, 0.0):
                self.next_probe[name] = now + LIVENESS_PERIOD_S
                healthy = processes.probes_pass(spec.probes)
                self.failures[name] = 0 if healthy else self.failures.get(name, 0) + 1
                if self.failures[name] >= LIVENESS_FAILURES:
                    log.warning(
                        "%s failed %d probes in a row: restarting it", name, LIVENESS_FAILURES
                    )
                    processes.stop(record, timeout=5.0)
                    self.failures[name] = 0
                    self._restart(name, spec, "liveness probe failed")
                    return True
            return False
        if now < self.not_before.get(name, 0.0):
            return False
        code = self.exit_codes.get(record.pid)
        self._restart(name, spec, f"exited ({code})" if code is not None else "exited")
        return True

    def _restart(self, name: str, spec: ComponentSpec, reason: str) -> None:
        previous = self.state.records[name]
        lived = time.time() - previous.create_time
        delay = self.backoff.get(name, 0.0)
        delay = (
            FIRST_BACKOFF_S
            if lived > STABLE_AFTER_S or not delay
            else min(delay * 2, MAX_BACKOFF_S)
        )
        self.backoff[name] = delay
        self.not_before[name] = time.monotonic() + delay
        log.warning(
            "%s %s after %.0fs: starting it again (next backoff %.1fs)", name, reason, lived, delay
        )
        self.state.records[name] = self._spawn(spec, previous=previous, reason=reason)
        self.next_probe[name] = time.monotonic() + LIVENESS_PERIOD_S
        if name in EMULATORS:  # in the background: the others stay watched meanwhile
            threading.Thread(target=self._rebootstrap, args=(name,), daemon=True).start()

    def _rebootstrap(self, name: str) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not processes.probes_pass(self.state.specs[name].probes):
            if time.monotonic() > deadline or not self.state.records[name].is_running():
                return
            time.sleep(0.1)
        with contextlib.suppress(Exception):  # done again at its next restart
            self._bootstrap((name,))

    def _handle_requests(self) -> bool:
        """``mlsys local restart NAME`` leaves ``control/restart-NAME``: restart it now."""
        changed = False
        for request in sorted(self.control.glob("restart-*")) if self.control.is_dir() else []:
            name = request.name.removeprefix("restart-")
            request.unlink(missing_ok=True)
            if name in self.state.specs:
                processes.stop(self.state.records[name], timeout=5.0)
                self.backoff.pop(name, None)
                self._restart(name, self.state.specs[name], "restarted by hand")
                self.not_before.pop(name, None)
                changed = True
        return changed

    # -- processes -------------------------------------------------------------------------------
    def _spawn(
        self, spec: ComponentSpec, *, previous: ProcessRecord | None, reason: str
    ) -> ProcessRecord:
        base = {k: v for k, v in os.environ.items() if k != "MLSYS_LOCAL_IDENTITY"}
        record = processes.spawn(
            spec.name,
            spec.command,
            port=spec.port,
            url=spec.url,
            log_path=self.state_dir / f"{spec.name}.log",
            env={**base, **spec.env},
            cwd=Path.cwd(),
        )
        if previous is not None and reason:
            record.restarts, record.last_reason = previous.restarts + 1, reason
            record.last_restart = time.time()
        elif previous is not None:
            record.restarts, record.last_reason = previous.restarts, previous.last_reason
            record.last_restart = previous.last_restart
        return record

    def _reap(self) -> None:
        """Collect the exit status of children that died (no zombies; codes for `status`)."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.exit_codes[pid] = os.waitstatus_to_exitcode(status)

    def _stop_all(self) -> None:
        for name in reversed(list(self.state.records)):
            processes.stop(self.state.records[name])
        self._reap()

    def _save(self) -> None:
        if self.state_file.exists() or self.state.phase != state.READY:
            state.save(self.state_file, self.state)


def _failed(name: str, record: ProcessRecord, what: str) -> Exception:
    from mlsys.errors import LocalStackError

    tail = processes.log_tail(record.log)
    # A port taken between picking it and binding it: say so even when a long traceback
    # pushed the bind error out of the tail, so `up` retries with other ports.
    with contextlib.suppress(OSError):
        if "address already in use" in Path(record.log).read_text(errors="replace").lower():
            what += " (address already in use)"
    return LocalStackError(
        f"{name} {what} (command: {' '.join(record.command)}).\nLast lines of {record.log}:\n{tail}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m mlsys.local.supervisor", description=__doc__)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--owner", type=int, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per probe otherwise
    supervisor = Supervisor(Path(args.state_dir), args.owner)

    def stop(*_: object) -> None:
        supervisor.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    supervisor.start()
    supervisor.watch()


if __name__ == "__main__":
    main()
