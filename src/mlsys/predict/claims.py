"""Exclusive, leased claims on the parts of a prediction job, in BigQuery itself.

A claim is a table ``{ops}.claim__{job_id}__{part}__e{epoch}``: creating a table that exists
fails (409) on BigQuery, so exactly one of many concurrent callers creates a given epoch — the
atomic step every engine shares. Its description holds the holder and the lease end; the holder
renews the lease by heartbeat. A holder that died stops renewing: after the lease, anyone may
take the part over by creating the NEXT epoch (again exactly one wins). A holder that finds a
newer epoch has lost the claim and must stop (fencing).

Parts: ``submit`` (launch a job execution once), ``task{i}`` (stage shard ``i``), ``publish``
(move the staged rows into the output once). Claim tables expire on their own (``CLAIM_TTL``)
and are dropped when the job ends.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from google.api_core import exceptions as gexc

from mlsys.clients import bigquery_client
from mlsys.errors import JobConflict
from mlsys.settings import get_settings

log = logging.getLogger(__name__)

#: Claim tables vanish by themselves after this long, whatever happened to the job.
CLAIM_TTL = dt.timedelta(days=2)
#: Highest epoch probed: a part taken over this many times is broken, not busy.
MAX_EPOCHS = 50


class ClaimHeld(JobConflict):
    """Another live holder has this part of the job."""

    code = "JOB_RUNNING"


class ClaimLost(JobConflict):
    """This holder's lease ran out and someone took the part over: stop, write nothing."""

    code = "JOB_TAKEN_OVER"


@dataclass(frozen=True)
class ClaimState:
    """What a claim table says: who holds it until when, and what it has done."""

    epoch: int
    holder: str
    lease_until: dt.datetime
    state: str  # held | done

    @property
    def expired(self) -> bool:
        return dt.datetime.now(dt.UTC) > self.lease_until


def holder_id() -> str:
    """This process: host, pid and a random part (pids repeat across instances)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def claim_table(env: str, job_id: str, part: str, epoch: int) -> str:
    return f"{get_settings().ops_dataset_ref(env)}.claim__{job_id}__{part}__e{epoch}"


class Claim:
    """One part of one job; use :meth:`acquire` / :meth:`heartbeat` / :meth:`release`."""

    def __init__(self, env: str, job_id: str, part: str, *, lease_s: float | None = None) -> None:
        self.env, self.job_id, self.part = env, job_id, part
        self.lease_s = lease_s or get_settings().job_lease_seconds
        self.holder = holder_id()
        self.epoch = 0
        self._client = bigquery_client(env)
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._beat: threading.Thread | None = None

    # -- reading ----------------------------------------------------------------------------
    def current(self) -> ClaimState | None:
        """The newest epoch's state, or None when nobody ever claimed (or all was released)."""
        latest: ClaimState | None = None
        for epoch in range(1, MAX_EPOCHS + 1):
            state = self._read(epoch)
            if state is None:
                return latest
            latest = state
        return latest

    def _read(self, epoch: int) -> ClaimState | None:
        try:
            table = self._client.get_table(claim_table(self.env, self.job_id, self.part, epoch))
        except gexc.NotFound:
            return None
        data = json.loads(table.description or "{}")
        until = dt.datetime.fromisoformat(data.get("lease_until", "1970-01-01T00:00:00+00:00"))
        return ClaimState(epoch, data.get("holder", "?"), until, data.get("state", "held"))

    # -- taking -----------------------------------------------------------------------------
    def acquire(self) -> int:
        """Hold the part (the next epoch), or raise :class:`ClaimHeld` naming the live holder.

        A ``done`` claim is returned as held-by-nobody: callers check the job's outcome first.
        """
        for _ in range(MAX_EPOCHS):
            latest = self.current()
            if latest is not None and not latest.expired and latest.state != "done":
                raise ClaimHeld(
                    f"job {self.job_id} is being worked on ({self.part} held by {latest.holder} "
                    f"until {latest.lease_until:%H:%M:%S} UTC); poll GET /jobs/{self.job_id}",
                    details={"holder": latest.holder, "epoch": latest.epoch},
                )
            epoch = 1 if latest is None else latest.epoch + 1
            if self._create(epoch):
                self.epoch = epoch
                log.info("job %s: %s claimed (epoch %d)", self.job_id, self.part, epoch)
                return epoch
        raise ClaimHeld(f"job {self.job_id}: {self.part} changed hands {MAX_EPOCHS} times")

    def _create(self, epoch: int) -> bool:
        from google.cloud import bigquery

        table = bigquery.Table(
            claim_table(self.env, self.job_id, self.part, epoch),
            schema=[bigquery.SchemaField("job_id", "STRING")],
        )
        table.description = self._description("held")
        table.expires = dt.datetime.now(dt.UTC) + CLAIM_TTL
        try:
            self._client.create_table(table)
        except gexc.Conflict:
            return False  # someone else created this epoch first
        return True

    def _description(self, state: str) -> str:
        until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.lease_s)
        return json.dumps({"holder": self.holder, "lease_until": until.isoformat(), "state": state})

    # -- holding ----------------------------------------------------------------------------
    def renew(self, state: str = "held") -> None:
        """Extend the lease (or mark the part ``done``); :class:`ClaimLost` if taken over."""
        if self._read(self.epoch + 1) is not None:
            self._lost.set()
            raise ClaimLost(
                f"job {self.job_id}: {self.part} was taken over after this worker's lease "
                "ran out; stopping without writing"
            )
        from google.cloud import bigquery

        table = bigquery.Table(claim_table(self.env, self.job_id, self.part, self.epoch))
        table.description = self._description(state)
        table.expires = dt.datetime.now(dt.UTC) + CLAIM_TTL  # (kept on every update)
        try:
            self._client.update_table(table, ["description", "expires"])
        except gexc.NotFound:  # dropped: a successor finished the part and released it
            self._lost.set()
            raise ClaimLost(
                f"job {self.job_id}: {self.part} was finished by another worker; stopping "
                "without writing"
            ) from None

    def check(self) -> None:
        """Raise :class:`ClaimLost` if the heartbeat found the part taken over."""
        if self._lost.is_set():
            raise ClaimLost(f"job {self.job_id}: {self.part} was taken over; stopping")

    def start_heartbeat(self) -> None:
        """Renew the lease in the background every quarter lease until released."""

        def beat() -> None:
            while not self._stop.wait(self.lease_s / 4):
                try:
                    self.renew()
                except ClaimLost:
                    log.warning("job %s: lost %s", self.job_id, self.part)
                    return
                except gexc.GoogleAPIError as exc:  # transient: the next beat retries
                    log.warning("job %s: heartbeat of %s failed: %s", self.job_id, self.part, exc)

        self._beat = threading.Thread(target=beat, name=f"claim-{self.part}", daemon=True)
        self._beat.start()

    def stop_heartbeat(self) -> None:
        self._stop.set()
        if self._beat is not None and self._beat is not threading.current_thread():
            self._beat.join(timeout=5)

    def release(self) -> None:
        """Drop every epoch of this part (the job's outcome is recorded elsewhere first)."""
        self.stop_heartbeat()
        drop_claims(self.env, self.job_id, (self.part,))


@contextlib.contextmanager
def holding(claim: Claim, *, wait_s: float = 0.0) -> Iterator[Claim]:
    """Acquire ``claim`` (waiting up to ``wait_s`` for a live holder to finish or die), keep
    its lease alive while the block runs, then stop the heartbeat (release is the caller's:
    only it knows whether the part is done)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            claim.acquire()
            break
        except ClaimHeld:
            if time.monotonic() >= deadline:
                raise
            time.sleep(min(2.0, max(0.2, claim.lease_s / 10)))
    claim.start_heartbeat()
    try:
        yield claim
    finally:
        claim.stop_heartbeat()


def drop_claims(env: str, job_id: str, parts: tuple[str, ...]) -> None:
    """Drop the claim tables of ``parts`` (every epoch); what is left expires by itself."""
    client = bigquery_client(env)
    for part in parts:
        for epoch in range(1, MAX_EPOCHS + 1):
            try:
                client.delete_table(claim_table(env, job_id, part, epoch))
            except gexc.NotFound:
                break
            except gexc.GoogleAPIError as exc:  # it expires anyway; say so and go on
                log.warning("could not drop claim %s/%s e%d: %s", job_id, part, epoch, exc)
