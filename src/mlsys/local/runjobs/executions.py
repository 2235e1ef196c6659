"""An execution of a Cloud Run Job on the local stack: its state on disk and its API shape.

One JSON file per execution (``.mlsys/executions/{id}.json``) holds the plan (command, args,
task count, parallelism, retries, timeout) and every task attempt (pid, start, end, exit code,
log file). The runner (:mod:`.runner`) is its writer while it runs; the API reads it, so the
state survives a restart of either.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED = (
    "pending",
    "running",
    "succeeded",
    "failed",
    "cancelled",
)
EXECUTION_TYPE = "type.googleapis.com/google.cloud.run.v2.Execution"


@dataclass
class Attempt:
    attempt: int
    pid: int
    create_time: float
    started: float
    log: str
    ended: float | None = None
    exit_code: int | None = None
    reason: str = ""  # "timed out", "cancelled", "lost with its runner"


@dataclass
class TaskState:
    index: int
    status: str = PENDING
    attempts: list[Attempt] = field(default_factory=list)


@dataclass
class Execution:
    """What Cloud Run knows of one execution."""

    name: str  # projects/P/locations/L/jobs/J/executions/E
    env: str
    operation: str  # projects/P/locations/L/operations/O
    creator: str
    task_count: int
    parallelism: int
    max_retries: int
    timeout_s: float
    command: list[str]
    args: list[str]
    variables: dict[str, str]  # container env overrides
    create_time: float = field(default_factory=time.time)
    start_time: float | None = None
    completion_time: float | None = None
    cancel_requested: bool = False
    runner_pid: int = 0
    runner_create_time: float = 0.0
    tasks: list[TaskState] = field(default_factory=list)

    # -- names -----------------------------------------------------------------------------------
    @property
    def execution_id(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    @property
    def job(self) -> str:
        return self.name.split("/executions/")[0]

    @property
    def done(self) -> bool:
        return self.completion_time is not None

    # -- counts ----------------------------------------------------------------------------------
    def count(self, status: str) -> int:
        return sum(1 for t in self.tasks if t.status == status)

    def counts(self) -> dict[str, int]:
        return {
            "running": self.count(RUNNING),
            "succeeded": self.count(SUCCEEDED),
            "failed": self.count(FAILED),
            "cancelled": self.count(CANCELLED),
            "retried": sum(1 for t in self.tasks if len(t.attempts) > 1),
        }

    # -- files -----------------------------------------------------------------------------------
    def save(self, folder: Path) -> Path:
        path = folder / f"{self.execution_id}.json"
        tmp = path.with_name(f"{path.name}.tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path) -> Execution:
        data = json.loads(path.read_text())
        data["tasks"] = [
            TaskState(t["index"], t["status"], [Attempt(**a) for a in t["attempts"]])
            for t in data["tasks"]
        ]
        return cls(**data)

    # -- the Admin API's JSON ----------------------------------------------------------------------
    def to_api(self) -> dict[str, Any]:
        """The ``google.cloud.run.v2.Execution`` resource (REST JSON)."""
        counts = self.counts()
        failed = counts["failed"] > 0
        if not self.done:
            state, message = "CONDITION_RECONCILING", f"{counts['running']} task(s) running"
        elif self.count(CANCELLED):
            state, message = "CONDITION_FAILED", "The execution was cancelled."
        elif failed:
            state, message = "CONDITION_FAILED", f"{counts['failed']} task(s) failed."
        else:
            state, message = "CONDITION_SUCCEEDED", f"{counts['succeeded']} task(s) completed."
        body: dict[str, Any] = {
            "name": self.name,
            "uid": self.execution_id,
            "creator": self.creator,
            "job": self.job.rsplit("/", 1)[-1],
            "createTime": rfc3339(self.create_time),
            "updateTime": rfc3339(time.time()),
            "launchStage": "GA",
            "parallelism": self.parallelism,
            "taskCount": self.task_count,
            "template": {
                "containers": [
                    {
                        "command": self.command,
                        "args": self.args,
                        "env": [{"name": k, "value": v} for k, v in self.variables.items()],
                    }
                ],
                "maxRetries": self.max_retries,
                "timeout": f"{self.timeout_s:g}s",
            },
            "reconciling": not self.done,
            "conditions": [{"type": "Completed", "state": state, "message": message}],
            "runningCount": counts["running"],
            "succeededCount": counts["succeeded"],
            "failedCount": counts["failed"],
            "cancelledCount": counts["cancelled"],
            "retriedCount": counts["retried"],
            "logUri": f"file://{Path.cwd()}",
            "etag": f'"{int(time.time() * 1000)}"',
        }
        if self.start_time is not None:
            body["startTime"] = rfc3339(self.start_time)
        if self.completion_time is not None:
            body["completionTime"] = rfc3339(self.completion_time)
        return body

    def operation_body(self) -> dict[str, Any]:
        """The long-running Operation of the run: metadata is the Execution, as Cloud Run's."""
        execution = {"@type": EXECUTION_TYPE, **self.to_api()}
        body: dict[str, Any] = {"name": self.operation, "metadata": execution, "done": self.done}
        if self.done:
            body["response"] = execution
        return body


def rfc3339(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat().replace("+00:00", "Z")


def all_executions(folder: Path) -> list[Execution]:
    found = []
    for path in sorted(folder.glob("*.json")):
        try:
            found.append(Execution.load(path))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # being replaced right now; the next read sees it
    return sorted(found, key=lambda e: e.create_time, reverse=True)
