"""The loading cache: one load per key under concurrency, a TTL never exceeded, errors."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from mlsys.errors import BackendUnavailable, ModelNotFound
from mlsys.online.cache import LoadingCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_concurrent_callers_of_a_cold_key_share_one_load():
    started, release = threading.Event(), threading.Event()
    calls = []

    def load(key: str) -> str:
        calls.append(key)
        started.set()
        release.wait(10)
        return key.upper()

    cache = LoadingCache(load, ttl=None, capacity=4)
    with ThreadPoolExecutor(32) as pool:
        futures = [pool.submit(cache.get, "m") for _ in range(32)]
        assert started.wait(10)
        time.sleep(0.2)  # let every caller arrive while the load is still running
        release.set()
        assert [f.result(10) for f in futures] == ["M"] * 32
    assert calls == ["m"] and cache.loads == 1


def test_a_value_is_never_served_past_its_ttl():
    clock = Clock()
    versions = iter([1, 2])
    cache = LoadingCache(lambda key: next(versions), ttl=10.0, capacity=4, clock=clock)
    assert cache.get("champion") == 1
    clock.now += 9.99
    assert cache.get("champion") == 1 and cache.peek("champion") == 1
    clock.now += 0.01
    assert cache.peek("champion") is None  # expired: a caller must load (never stale)
    assert cache.get("champion") == 2


def test_past_half_the_ttl_one_refresh_runs_in_the_background():
    clock = Clock()
    loaded = []
    refresher = ThreadPoolExecutor(1)
    refreshing, release = threading.Event(), threading.Event()

    def load(key: str) -> int:
        loaded.append(key)
        if len(loaded) > 1:  # the background refresh: held until the test lets it finish
            refreshing.set()
            release.wait(10)
        return len(loaded)

    cache = LoadingCache(load, ttl=10.0, capacity=4, refresher=refresher, clock=clock)
    assert cache.get("champion") == 1
    clock.now += 6
    assert cache.peek("champion") == 1  # the current value, at once
    assert refreshing.wait(10)
    assert cache.peek("champion") == 1  # a refresh is already running: not a second one
    release.set()
    deadline = time.monotonic() + 10
    while cache.peek("champion") != 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert loaded == ["champion", "champion"]
    clock.now += 9.9  # the refreshed value counts from its own load
    assert cache.peek("champion") == 2
    refresher.shutdown(wait=True)


def test_answers_that_are_errors_are_cached_but_backend_failures_are_not():
    outcomes = iter([ModelNotFound("no such model"), BackendUnavailable("down"), "v1"])

    def load(key: str) -> str:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    clock = Clock()
    cache = LoadingCache(load, ttl=5.0, capacity=4, clock=clock)
    for _ in range(2):  # a 404 is an answer: asked once per TTL
        with pytest.raises(ModelNotFound):
            cache.get("m")
    assert cache.loads == 1
    clock.now += 5
    with pytest.raises(BackendUnavailable):
        cache.get("m")
    assert cache.get("m") == "v1"  # a 503 is not remembered: the next call tries again
    assert cache.loads == 3


def test_the_least_recently_used_key_is_evicted():
    cache = LoadingCache(lambda key: key, ttl=None, capacity=2)
    cache.get("a"), cache.get("b"), cache.get("a"), cache.get("c")
    assert cache.peek("b") is None and cache.peek("a") == "a" and cache.peek("c") == "c"


def test_a_cache_without_a_loader_takes_one_per_call():
    cache: LoadingCache[str, int] = LoadingCache(ttl=None, capacity=2)
    assert cache.get("k", lambda: 7) == 7
    assert cache.get("k", lambda: 8) == 7  # cached
