"""Runs one execution's tasks as processes, as Cloud Run runs a job's tasks.

``python -m mlsys.local.runjobs.runner FILE``: at most ``parallelism`` tasks at once, each
``command + args`` with ``CLOUD_RUN_TASK_INDEX``, ``CLOUD_RUN_TASK_COUNT``,
``CLOUD_RUN_TASK_ATTEMPT``, ``CLOUD_RUN_EXECUTION``, ``CLOUD_RUN_JOB``, the environment's
``MLSYS_ENV`` and ``MLSYS_LOCAL_IDENTITY=job`` (the job's own service account). A task that
exits non-zero, is killed (SIGKILL included) or outlives its timeout is a failed attempt, retried
up to ``max_retries`` times; the execution fails if a task fails every attempt. SIGTERM cancels.
A runner started again on a half-run execution (its predecessor died) counts the attempts it
cannot follow any more as failed, and goes on.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from mlsys.local.runjobs.executions import (
    CANCELLED,
    FAILED,
    PENDING,
    RUNNING,
    SUCCEEDED,
    Attempt,
    Execution,
    TaskState,
)

log = logging.getLogger("mlsys.local.runjobs")
TICK_S = 0.1


class Runner:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.folder = path.parent
        self.execution = Execution.load(path)
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.cancel = False

    def run(self) -> None:
        ex = self.execution
        me = psutil.Process()
        ex.runner_pid, ex.runner_create_time = me.pid, me.create_time()
        ex.start_time = ex.start_time or time.time()
        if not ex.tasks:
            ex.tasks = [TaskState(i) for i in range(ex.task_count)]
        self._resume()
        self._save()
        while True:
            changed = self._collect() | self._enforce_timeouts()
            if self.cancel or ex.cancel_requested:
                self._cancel_all()
                break
            changed |= self._start_pending()
            if all(t.status in (SUCCEEDED, FAILED, CANCELLED) for t in ex.tasks):
                break
            if changed:
                self._save()
            time.sleep(TICK_S)
        ex.completion_time = time.time()
        self._save()
        log.info("execution %s done: %s", ex.execution_id, ex.counts())

    # -- tasks -----------------------------------------------------------------------------------
    def _start_pending(self) -> bool:
        ex = self.execution
        limit = ex.parallelism or ex.task_count
        started = False
        for task in ex.tasks:
            if sum(1 for t in ex.tasks if t.status == RUNNING) >= limit:
                break
            if task.status == PENDING:
                self._start(task)
                started = True
        return started

    def _start(self, task: TaskState) -> None:
        ex = self.execution
        attempt = len(task.attempts)
        logs = self.folder / ex.execution_id
        logs.mkdir(exist_ok=True)
        log_path = logs / f"task-{task.index}-attempt-{attempt}.log"
        env = {k: v for k, v in os.environ.items() if k != "MLSYS_LOCAL_IDENTITY"}
        env.update(ex.variables)
        env.update(
            {
                "CLOUD_RUN_TASK_INDEX": str(task.index),
                "CLOUD_RUN_TASK_COUNT": str(ex.task_count),
                "CLOUD_RUN_TASK_ATTEMPT": str(attempt),
                "CLOUD_RUN_EXECUTION": ex.execution_id,
                "CLOUD_RUN_JOB": ex.job.rsplit("/", 1)[-1],
                "MLSYS_ENV": ex.env,
                "MLSYS_LOCAL_IDENTITY": "job",
            }
        )
        # The image's `python` is this environment's interpreter.
        command = [sys.executable if c == "python" else c for c in ex.command] + ex.args
        with log_path.open("ab") as out:
            proc = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        self.procs[task.index] = proc
        created = psutil.Process(proc.pid).create_time()
        task.attempts.append(Attempt(attempt, proc.pid, created, time.time(), str(log_path)))
        task.status = RUNNING
        log.info("task %d attempt %d started (pid %d)", task.index, attempt, proc.pid)

    def _collect(self) -> bool:
        changed = False
        for index, proc in list(self.procs.items()):
            code = proc.poll()
            if code is None:
                continue
            del self.procs[index]
            self._finish(self.execution.tasks[index], code)
            changed = True
        return changed

    def _finish(self, task: TaskState, code: int | None, reason: str = "") -> None:
        current = task.attempts[-1]
        current.ended, current.exit_code = time.time(), code
        current.reason = current.reason or reason
        if code == 0:
            task.status = SUCCEEDED
        elif len(task.attempts) <= self.execution.max_retries:
            task.status = PENDING  # retried, as Cloud Run does
        else:
            task.status = FAILED
        log.info("task %d attempt %d ended %s: %s", task.index, current.attempt, code, task.status)

    def _enforce_timeouts(self) -> bool:
        now = time.time()
        changed = False
        for index, proc in self.procs.items():
            current = self.execution.tasks[index].attempts[-1]
            if not current.reason and now - current.started > self.execution.timeout_s:
                current.reason = "timed out"
                _kill_group(proc.pid)
                changed = True
        return changed

    def _cancel_all(self) -> None:
        for index, proc in list(self.procs.items()):
            _kill_group(proc.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
            task = self.execution.tasks[index]
            task.attempts[-1].ended, task.attempts[-1].exit_code = time.time(), proc.returncode
            task.attempts[-1].reason = "cancelled"
        for task in self.execution.tasks:
            if task.status in (PENDING, RUNNING):
                task.status = CANCELLED
        self.procs.clear()

    def _resume(self) -> None:
        """Attempts a dead runner was following: stop them, count them as failed attempts."""
        for task in self.execution.tasks:
            if task.status != RUNNING:
                continue
            current = task.attempts[-1]
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(current.pid)
                if abs(proc.create_time() - current.create_time) < 1.0:
                    _kill_group(current.pid)
            self._finish(task, None, "lost with its runner")

    def _save(self) -> None:
        self.execution.save(self.folder)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(os.getpgid(pid), signal.SIGKILL)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    runner = Runner(Path(sys.argv[1]))

    def cancel(*_: object) -> None:
        runner.cancel = True

    signal.signal(signal.SIGTERM, cancel)
    runner.run()


if __name__ == "__main__":
    main()
