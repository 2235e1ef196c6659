"""A thread-safe cache that loads each key once, however many callers ask at the same time.

Concurrent callers of a key that is missing or expired wait for ONE load (a "single flight")
and share its value or its error. With a ``ttl``, a value is served for ``ttl`` seconds after
it was loaded and never longer; past half of it, the first caller starts a refresh in the
background and goes on with the current value, so steady traffic rarely waits for a reload.
Errors that are answers (4xx: no such model, no such alias) are cached like values; backend
errors (5xx, and a refused grant or a quota: 403, 429) are not, so the next caller tries again.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Executor
from dataclasses import dataclass, field

from mlsys.errors import MlsysError


@dataclass
class _Entry[V]:
    value: V | None
    error: MlsysError | None
    loaded_at: float


@dataclass
class _Flight[V]:
    done: threading.Event = field(default_factory=threading.Event)
    entry: _Entry[V] | None = None
    error: BaseException | None = None


class LoadingCache[K: Hashable, V]:
    """``get(key)`` returns ``load(key)``, loaded once per key and kept ``ttl`` seconds (None:
    until evicted); at most ``capacity`` keys (least recently used evicted). Without ``load``,
    every :meth:`get` passes its own loader (and nothing is refreshed ahead)."""

    def __init__(
        self,
        load: Callable[[K], V] | None = None,
        *,
        ttl: float | None,
        capacity: int,
        refresher: Executor | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self.ttl = ttl
        self.capacity = max(1, capacity)
        self._refresher = refresher
        self._clock = clock
        self._entries: OrderedDict[K, _Entry[V]] = OrderedDict()
        self._flights: dict[K, _Flight[V]] = {}
        self._lock = threading.Lock()
        self.loads = 0  # how many times ``load`` ran (tests, status)

    def peek(self, key: K) -> V | None:
        """The fresh value without ever blocking (None: call :meth:`get`); may start a
        background refresh."""
        with self._lock:
            entry = self._fresh(key)
        if entry is None:
            return None
        return self._unwrap(entry)

    def get(self, key: K, load: Callable[[], V] | None = None) -> V:
        """The value of ``key``: cached, or loaded once (by ``load``, else the cache's loader)
        for every concurrent caller."""
        with self._lock:
            entry = self._fresh(key)
            if entry is not None:
                flight = None
            else:
                flight = self._flights.get(key)
                leader = flight is None
                if flight is None:
                    flight = self._flights[key] = _Flight()
        if entry is not None:
            return self._unwrap(entry)
        assert flight is not None
        if leader:
            self._run(key, flight, load)
        else:
            flight.done.wait()
        if flight.error is not None:
            raise flight.error
        assert flight.entry is not None
        return self._unwrap(flight.entry)

    def __len__(self) -> int:
        return len(self._entries)

    def values(self) -> list[V]:
        with self._lock:
            return [e.value for e in self._entries.values() if e.value is not None]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    # -- internals (``_fresh`` runs under the lock) ------------------------------------------
    def _fresh(self, key: K) -> _Entry[V] | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        age = self._clock() - entry.loaded_at
        if self.ttl is not None and age >= self.ttl:
            return None
        self._entries.move_to_end(key)
        refresh = self._refresher is not None and self._load is not None
        if self.ttl is not None and age >= self.ttl / 2 and refresh:
            assert self._refresher is not None
            if key not in self._flights:  # refresh ahead, once
                flight = self._flights[key] = _Flight()
                self._refresher.submit(self._run, key, flight)
        return entry

    def _run(self, key: K, flight: _Flight[V], load: Callable[[], V] | None = None) -> None:
        """Load ``key`` for everyone waiting on ``flight``; store it unless it is a 5xx."""
        started = self._clock()
        with self._lock:
            self.loads += 1
        try:
            if load is None:
                assert self._load is not None, "a cache without a loader needs get(key, load)"
                value = self._load(key)
            else:
                value = load()
            entry: _Entry[V] = _Entry(value, None, started)
        except MlsysError as exc:
            entry = _Entry(None, exc, started)
            answer = exc.http_status < 500 and exc.http_status not in (403, 429)
            flight.error = None if answer else exc
        except BaseException as exc:
            flight.error = exc
            entry = _Entry(None, None, started)
        flight.entry = entry
        with self._lock:
            if flight.error is None:
                self._entries[key] = entry
                self._entries.move_to_end(key)
                while len(self._entries) > self.capacity:
                    self._entries.popitem(last=False)
            self._flights.pop(key, None)
        flight.done.set()

    @staticmethod
    def _unwrap(entry: _Entry[V]) -> V:
        if entry.error is not None:
            raise entry.error
        assert entry.value is not None
        return entry.value
