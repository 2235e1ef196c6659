"""Requests for the same model that arrive together are scored in one model call.

A scikit-learn Pipeline costs about as much for 1 row as for 100 (its fixed cost per call is
milliseconds of Python), so scoring concurrent requests one by one wastes the machine. Each
served model has a :class:`Batcher`: a request that finds the model idle is scored at once, in
a worker thread (no waiting for company: a lone request pays no batching delay); requests that
arrive while the model is busy queue up and are scored together as soon as it is free, up to
``max_rows`` rows per call. The event loop keeps reading and checking requests meanwhile.
When a request is the only one the process is handling, it is scored on the event loop itself:
nothing can be batched with it, and the two thread hand-offs it saves are the largest part of
the service's own latency on a busy machine.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from mlsys.errors import MlsysError
from mlsys.online.instances import Instances

ScoreMany = Callable[[Sequence[Instances]], Sequence[Any]]


@dataclass
class _Job:
    instances: Instances
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


class Batcher:
    """Natural batching for one model: at most one scoring call in flight, the rest queue."""

    def __init__(self, score_many: ScoreMany, *, max_rows: int, executor: Executor) -> None:
        self._score_many = score_many
        self.max_rows = max_rows
        self._executor = executor
        self._pending: deque[_Job] = deque()
        self._lock = threading.Lock()
        self._draining = False

    async def submit(self, instances: Instances, *, inline: bool = False) -> Any:
        """Score ``instances`` (with whatever else is queued); an error answer is raised.

        ``inline``: the caller is the only request in the process; if the model is idle it is
        scored right here on the event loop, saving two thread hand-offs (nobody waits)."""
        if inline and self._claim_idle():
            try:
                answer = self._score_many([instances])[0]
            finally:
                self._release()
            if isinstance(answer, MlsysError):
                raise answer
            return answer
        loop = asyncio.get_running_loop()
        job = _Job(instances, loop.create_future(), loop)
        with self._lock:
            self._pending.append(job)
            start, self._draining = not self._draining, True
        if start:
            self._executor.submit(self._drain)
        answer = await job.future
        if isinstance(answer, MlsysError):
            raise answer
        return answer

    def _claim_idle(self) -> bool:
        with self._lock:
            idle = not self._draining and not self._pending
            self._draining = self._draining or idle
        return idle

    def _release(self) -> None:
        """After an inline call: hand anything queued meanwhile to a worker."""
        with self._lock:
            start = bool(self._pending)
            self._draining = start
        if start:
            self._executor.submit(self._drain)

    def _take(self) -> list[_Job]:
        jobs: list[_Job] = []
        rows = 0
        while self._pending:
            if jobs and rows + self._pending[0].instances.count > self.max_rows:
                break
            job = self._pending.popleft()
            jobs.append(job)
            rows += job.instances.count
        return jobs

    def _drain(self) -> None:
        while True:
            with self._lock:
                jobs = self._take()
                if not jobs:
                    self._draining = False
                    return
            try:
                answers: Sequence[Any] = self._score_many([j.instances for j in jobs])
            except BaseException as exc:  # a bug, not a bad request: every waiter gets it
                answers = [_Failure(exc)] * len(jobs)
            for job, answer in zip(jobs, answers, strict=True):
                job.loop.call_soon_threadsafe(_settle, job.future, answer)


@dataclass(frozen=True)
class _Failure:
    error: BaseException


def _settle(future: asyncio.Future[Any], answer: Any) -> None:
    if future.done():  # the client went away and the request was cancelled
        return
    if isinstance(answer, _Failure):
        future.set_exception(answer.error)
    else:
        future.set_result(answer)
