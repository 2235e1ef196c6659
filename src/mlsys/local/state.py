"""The state file of a local stack (``.mlsys/state.json``): its plan, processes and health.

``mlsys local up`` writes the plan (ports, exported endpoints, component specs); from then on
the supervisor is its only writer (pids, restarts, phase), and every other command reads it.
Writes are atomic (a temporary file renamed over the old one).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlsys.local.components import ComponentSpec
from mlsys.local.processes import ProcessRecord

STARTING, READY, FAILED = "starting", "ready", "failed"


@dataclass
class StackState:
    """Everything a stack's commands and its supervisor share."""

    layout: str
    env: dict[str, str]  # what local.env exports (the proxy's endpoints)
    direct: dict[str, str]  # the emulators' own endpoints
    specs: dict[str, ComponentSpec]
    started_at: float
    phase: str = STARTING
    error: str = ""
    ready: list[str] = field(default_factory=list)  # components that passed their probes once
    startup_seconds: float = 0.0
    owner_pid: int | None = None
    supervisor: ProcessRecord | None = None
    records: dict[str, ProcessRecord] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["specs"] = {n: s.to_dict() for n, s in self.specs.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StackState:
        supervisor = data.get("supervisor")
        return cls(
            layout=data.get("layout", "per-env"),
            env=data["env"],
            direct=data.get("direct", {}),
            specs={n: ComponentSpec.from_dict(s) for n, s in data.get("specs", {}).items()},
            started_at=data["started_at"],
            phase=data.get("phase", READY),
            error=data.get("error", ""),
            ready=list(data.get("ready", [])),
            startup_seconds=data.get("startup_seconds", 0.0),
            owner_pid=data.get("owner_pid"),
            supervisor=ProcessRecord(**supervisor) if supervisor else None,
            records={n: ProcessRecord(**r) for n, r in data.get("records", {}).items()},
        )


def load(path: Path) -> StackState | None:
    """The state at ``path``, or None when there is none (or it is unreadable)."""
    try:
        return StackState.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save(path: Path, state: StackState) -> None:
    tmp = path.with_name(f"{path.name}.{id(state)}.tmp")
    tmp.write_text(json.dumps(state.to_dict(), indent=2))
    tmp.replace(path)
