"""The bridge's spool: accepted events on disk until delivered, and the dead letters.

``pending/`` holds what the bridge accepted (written before ``Publish`` answers), one JSON file
per event; ``dead/`` what it gave up on, with the reason, as the dead-letter topic of the
Terraform. ``mlsys local replay-dead-letters`` moves dead letters back to ``pending/``.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger("mlsys.local.bridge")


@dataclass
class Delivery:
    """One CloudEvent to POST, as kept in the spool."""

    event_id: str
    headers: dict[str, str]
    body: str  # base64 of the object JSON
    attempts: int = 0
    error: str = ""

    def payload(self) -> bytes:
        return base64.b64decode(self.body)


class Spool:
    """Accepted events on disk: ``pending/`` until delivered, ``dead/`` when given up."""

    def __init__(self, root: Path) -> None:
        self.pending = root / "pending"
        self.dead = root / "dead"
        for folder in (self.pending, self.dead):
            folder.mkdir(parents=True, exist_ok=True)

    def add(self, delivery: Delivery) -> Path:
        path = self.pending / f"{time.time_ns():020d}-{delivery.event_id}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(delivery)))
        tmp.replace(path)  # atomic: a scan never sees half an event
        return path

    def load(self, path: Path) -> Delivery:
        return Delivery(**json.loads(path.read_text()))

    def done(self, path: Path) -> None:
        path.unlink(missing_ok=True)

    def dead_letter(self, path: Path, delivery: Delivery) -> None:
        target = self.dead / path.name
        target.write_text(json.dumps(asdict(delivery)))
        path.unlink(missing_ok=True)
        log.error(
            "DEAD-LETTER %s %s after %d attempts: %s",
            delivery.headers.get("ce-type"),
            delivery.headers.get("ce-subject"),
            delivery.attempts,
            delivery.error,
        )


def dead_letters(root: Path) -> list[Path]:
    """The dead-lettered events of a spool, oldest first."""
    folder = root / "dead"
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def replay_dead_letters(root: Path) -> int:
    """Move every dead letter back to ``pending`` (attempts reset); the bridge delivers them."""
    moved = 0
    for path in dead_letters(root):
        delivery = Delivery(**json.loads(path.read_text()))
        delivery.attempts, delivery.error = 0, ""
        target = root / "pending" / path.name
        target.write_text(json.dumps(asdict(delivery)))
        path.unlink()
        moved += 1
    return moved
