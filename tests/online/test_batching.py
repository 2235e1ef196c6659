"""Natural batching: a lone request goes at once, requests that wait are scored together."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from mlsys.errors import InvalidInstances
from mlsys.online.batching import Batcher
from mlsys.online.instances import Instances


def rows(n: int, tag: int) -> Instances:
    return Instances({"x": [float(tag)] * n}, n)


class Recorder:
    """A stand-in model: echoes each request's tag and records the calls' sizes."""

    def __init__(self, seconds: float = 0.05) -> None:
        self.calls: list[list[int]] = []
        self.seconds = seconds
        self.threads: set[str] = set()

    def __call__(self, parts):
        self.threads.add(threading.current_thread().name)
        self.calls.append([p.count for p in parts])
        time.sleep(self.seconds)  # the model is busy: others queue meanwhile
        return [p.columns["x"][0] for p in parts]


def run(batcher: Batcher, parts: list[Instances]):
    async def main():
        return await asyncio.gather(*(batcher.submit(p) for p in parts), return_exceptions=True)

    return asyncio.run(main())


def test_waiting_requests_are_scored_together_and_each_gets_its_answer():
    model = Recorder()
    with ThreadPoolExecutor(2, thread_name_prefix="scoring") as pool:
        batcher = Batcher(model, max_rows=1000, executor=pool)
        answers = run(batcher, [rows(1, tag) for tag in range(20)])
    assert answers == [float(tag) for tag in range(20)]
    assert len(model.calls) < 20 and sum(len(c) for c in model.calls) == 20
    assert model.calls[0] == [1]  # the first request did not wait for company
    assert all(name.startswith("scoring") for name in model.threads)  # off the event loop


def test_a_call_never_takes_more_than_max_rows_unless_one_request_has_them():
    model = Recorder()
    with ThreadPoolExecutor(2) as pool:
        batcher = Batcher(model, max_rows=10, executor=pool)
        run(batcher, [rows(4, 0), rows(4, 1), rows(4, 2), rows(4, 3), rows(25, 4)])
    assert all(sum(c) <= 10 or c == [25] for c in model.calls), model.calls


def test_an_error_answer_is_raised_to_its_request_only():
    def score(parts):
        return [InvalidInstances("bad") if p.columns["x"][0] < 0 else "ok" for p in parts]

    with ThreadPoolExecutor(1) as pool:
        answers = run(Batcher(score, max_rows=100, executor=pool), [rows(1, 1), rows(1, -1)])
    assert answers[0] == "ok" and isinstance(answers[1], InvalidInstances)


def test_a_crash_of_the_scorer_reaches_every_waiter():
    def score(parts):
        raise RuntimeError("bug")

    with ThreadPoolExecutor(1) as pool:
        answers = run(Batcher(score, max_rows=100, executor=pool), [rows(1, 1), rows(1, 2)])
    assert all(isinstance(a, RuntimeError) for a in answers)


def test_a_cancelled_request_does_not_break_the_others():
    model = Recorder(seconds=0.2)

    async def main(batcher):
        first = asyncio.ensure_future(batcher.submit(rows(1, 1)))
        second = asyncio.ensure_future(batcher.submit(rows(1, 2)))
        await asyncio.sleep(0.05)
        second.cancel()  # the client went away while its rows were queued
        third = await batcher.submit(rows(1, 3))
        with pytest.raises(asyncio.CancelledError):
            await second
        return await first, third

    with ThreadPoolExecutor(1) as pool:
        assert asyncio.run(main(Batcher(model, max_rows=100, executor=pool))) == (1.0, 3.0)


def test_the_only_request_of_the_process_is_scored_on_the_event_loop_if_the_model_is_idle():
    model = Recorder(seconds=0.1)

    async def main(batcher):
        alone = await batcher.submit(rows(1, 1), inline=True)
        loop_thread = threading.current_thread().name
        busy = asyncio.ensure_future(batcher.submit(rows(1, 2)))  # a worker scores this one
        await asyncio.sleep(0.02)
        queued = await batcher.submit(rows(1, 3), inline=True)  # busy: queued, not inline
        return alone, await busy, queued, loop_thread

    with ThreadPoolExecutor(1, thread_name_prefix="scoring") as pool:
        alone, busy, queued, loop_thread = asyncio.run(
            main(Batcher(model, max_rows=9, executor=pool))
        )
    assert (alone, busy, queued) == (1.0, 2.0, 3.0)
    assert loop_thread in model.threads and any(t.startswith("scoring") for t in model.threads)
    assert model.calls == [[1], [1], [1]]
