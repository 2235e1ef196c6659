"""Online prediction: JSON instances in, predictions out, from the registry's verified models.

Two caches sit between a request and the registry:

- **resolution** (``(env, model, version)`` -> the registry row and its ONNX export): kept
  :attr:`Settings.online_cache_ttl_s` seconds, so moving ``champion`` (a promotion or a rollback)
  reaches every instance within that time, without a restart;
- **served models** (by artifact generation and hash): loaded once through
  :func:`mlsys.artifacts.load_model` (size and sha256 checked before deserializing), planned and
  batched; a burst of requests for a cold model loads it once.

Both load each key once for any number of concurrent callers (:class:`LoadingCache`).
"""

from __future__ import annotations

import asyncio
import functools
import gc
import hashlib
import json
import logging
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import requests
from google.api_core.exceptions import ServerError

from mlsys.artifacts import ArtifactRef, load_model
from mlsys.errors import BackendUnavailable
from mlsys.online.batching import Batcher
from mlsys.online.cache import LoadingCache
from mlsys.online.instances import Instances, RawInstances, check_instances, parse_body
from mlsys.online.runtime import Prediction, Runtime, ServedModel
from mlsys.registry import ModelVersion, get_version
from mlsys.settings import Settings, check_env, get_settings

#: Errors that mean the backend could not answer (503, try again). Google's 4xx (a refused
#: grant, a quota) and bodies that are not JSON go to service.errors (403, 429, 500).
_UNREACHABLE = (
    ServerError,
    ConnectionError,
    TimeoutError,
    requests.ConnectionError,
    requests.Timeout,
)

log = logging.getLogger(__name__)

#: Registry lookups kept at once (model x version spec x env).
RESOLUTION_CAPACITY = 1024
#: Threads that load models and read the registry for requests (blocking I/O); that refresh
#: resolutions ahead of their expiry (never shared with requests: a request waiting for a
#: refresh must not hold the thread the refresh needs); and that score batches.
IO_THREADS = 8
REFRESH_THREADS = 2
SCORING_THREADS = 4


@dataclass(frozen=True)
class Resolved:
    """What a version spec points at now: the registry row and its verified ONNX export."""

    env: str
    version: ModelVersion
    export: ArtifactRef | None

    @functools.cached_property  # looked up by every request: its JSON and hash once
    def key(self) -> tuple[Any, ...]:
        """Identifies the bytes served: a new generation or metadata is a new served model."""
        mv = self.version
        meta = json.dumps([mv.metadata, mv.features], sort_keys=True, default=str)
        export = None if self.export is None else (self.export.uri, self.export.generation)
        return (
            self.env,
            mv.artifact_uri,
            mv.generation,
            mv.sha256,
            hashlib.sha256(meta.encode()).hexdigest(),
            export,
        )


@dataclass
class _Served:
    env: str
    model: ServedModel
    batcher: Batcher


class OnlineServer:
    """Resolves, loads and scores; shared by every request of a process."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self._io = ThreadPoolExecutor(IO_THREADS, thread_name_prefix="mlsys-online-io")
        self._refresh = ThreadPoolExecutor(REFRESH_THREADS, thread_name_prefix="mlsys-refresh")
        self._scoring = ThreadPoolExecutor(SCORING_THREADS, thread_name_prefix="mlsys-score")
        self.resolutions: LoadingCache[tuple[str, str, str], Resolved] = LoadingCache(
            self._resolve,
            ttl=self.settings.online_cache_ttl_s,
            capacity=RESOLUTION_CAPACITY,
            refresher=self._refresh,
        )
        self.served: LoadingCache[tuple[Any, ...], _Served] = LoadingCache(
            ttl=None, capacity=self.settings.model_cache_size
        )
        self.loads: Counter[tuple[str, str, int]] = Counter()  # per (env, model, version)
        self._loads_lock = threading.Lock()
        self._in_flight = 0  # requests in apredict (the batching decides on it)

    # -- the two entry points -----------------------------------------------------------------
    def predict(self, env: str | None, model_name: str, version: str, body: bytes) -> Prediction:
        """Score a JSON body now, in this thread (the library and tests)."""
        raw = self._parse(body)
        served = self.served_model(env, model_name, version)
        instances = self._check(raw, served.model)
        answer = served.model.score_many([instances])[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def apredict(
        self, env: str | None, model_name: str, version: str, body: bytes
    ) -> Prediction:
        """Score a JSON body with whatever else is queued for the model (the service)."""
        self._in_flight += 1  # only ever changed on the event loop's thread
        try:
            raw = self._parse(body)
            served = self._ready(env, model_name, version)
            if served is None:  # resolve or load: blocking I/O, off the event loop
                loop = asyncio.get_running_loop()
                served = await loop.run_in_executor(
                    self._io, self.served_model, env, model_name, version
                )
            instances = self._check(raw, served.model)
            await asyncio.sleep(0)  # requests that arrived with this one get this far too
            alone = self._in_flight == 1
            answer: Prediction = await served.batcher.submit(instances, inline=alone)
            return answer
        finally:
            self._in_flight -= 1

    # -- resolution and loading -----------------------------------------------------------------
    def served_model(self, env: str | None, model_name: str, version: str) -> _Served:
        """The served model a version spec points at now (blocking: may read and load)."""
        resolved = self.resolutions.get(self._spec(env, model_name, version))
        return self.served.get(resolved.key, functools.partial(self._load, resolved))

    def status(self) -> list[dict[str, Any]]:
        """Every model in memory: version, runtime and why, counts."""
        return [
            {
                "environment": s.env,
                **s.model.status(),
                "loads": self.loads[(s.env, s.model.model_name, s.model.version)],
            }
            for s in self.served.values()
        ]

    def _ready(self, env: str | None, model_name: str, version: str) -> _Served | None:
        resolved = self.resolutions.peek(self._spec(env, model_name, version))
        return None if resolved is None else self.served.peek(resolved.key)

    def _spec(self, env: str | None, model_name: str, version: str) -> tuple[str, str, str]:
        return (check_env(env or self.settings.mlsys_env), model_name, version.strip())

    def _resolve(self, spec: tuple[str, str, str]) -> Resolved:
        env, model_name, version = spec
        try:
            mv = get_version(env, model_name, version)
            return Resolved(env, mv, _export_of(env, mv))
        except _UNREACHABLE as exc:
            # (a refused grant or a quota is Google's 4xx: service.errors maps it, 403/429)
            raise BackendUnavailable(
                f"the registry of {env} could not be read ({type(exc).__name__}: {exc}); try again"
            ) from exc

    def _load(self, resolved: Resolved) -> _Served:
        mv, settings = resolved.version, self.settings
        with self._loads_lock:
            self.loads[(resolved.env, mv.model_name, mv.model_version)] += 1
        bucket = settings.bucket_for(resolved.env)
        try:
            loaded = load_model(ArtifactRef.from_version(mv), allowed_bucket=bucket)
        except _UNREACHABLE as exc:
            raise BackendUnavailable(
                f"{mv.artifact_uri} could not be read ({type(exc).__name__}: {exc}); try again"
            ) from exc
        metadata = mv.metadata or ({"features": mv.features} if mv.features else None)
        name = "onnx" if loaded.ref.format == "onnx" else "sklearn"
        primary = Runtime(name, loaded.model, metadata)
        candidate = None
        if resolved.export is not None and name != "onnx":
            candidate = _candidate(resolved.export, bucket, metadata)
        model = ServedModel(
            model_name=mv.model_name,
            version=mv.model_version,
            primary=primary,
            candidate=candidate,
            trial_rows=settings.online_onnx_trial_rows,
            tolerance=settings.online_onnx_tolerance,
        )
        batcher = Batcher(
            model.score_many, max_rows=settings.online_max_instances, executor=self._scoring
        )
        log.info("serving %s v%s (%s)", mv.model_name, mv.model_version, model.runtime)
        _settle_heap()
        return _Served(resolved.env, model, batcher)

    # -- requests ---------------------------------------------------------------------------
    def _parse(self, body: bytes) -> RawInstances:
        return parse_body(body, max_instances=self.settings.online_max_instances)

    def _check(self, raw: RawInstances, model: ServedModel) -> Instances:
        refuse = self.settings.online_extra_fields == "refuse"
        return check_instances(raw, model.plan, refuse_extra=refuse)


def _export_of(env: str, mv: ModelVersion) -> ArtifactRef | None:
    """The version's registered ONNX export (``exports/bqml.onnx``), with its recorded hash."""
    from mlsys.bqml import export_path
    from mlsys.registry.state import live_object
    from mlsys.registry.store import registry_store

    name = export_path(mv.model_name, mv.model_version)
    event = live_object(registry_store(env).events(object_name=name))
    if event is None or event.gcs_bucket != mv.gcs_bucket:
        return None
    return ArtifactRef(
        bucket=mv.gcs_bucket,
        object_name=name,
        format="onnx",
        generation=event.generation,
        sha256=event.sha256,
        size=event.file_size_bytes,
    )


def _candidate(export: ArtifactRef, bucket: str, metadata: dict[str, Any] | None) -> Runtime | None:
    """The export as a runtime, or None (logged) when it cannot be loaded: it is optional."""
    from mlsys.errors import MlsysError

    try:
        return Runtime("onnx", load_model(export, allowed_bucket=bucket).model, metadata)
    except MlsysError as exc:
        log.warning("not trying the ONNX export %s: %s", export.uri, exc.message)
        return None


def _settle_heap() -> None:
    """Take what is alive now (the modules, the clients, the models loaded so far) out of the
    garbage collector's sight, so that its full collections stop walking it during requests.

    A process serving the demo model holds ~185k objects that the collector tracks; a full
    collection walks them all and stopped every request for 0.1-0.2 s on the development
    machine, about once per 400 requests (bench/online.py measures it). Frozen, they are never
    walked again. Garbage is collected first, so none of it is frozen; what is frozen and later
    dropped (a replaced model) is still freed by reference counting, and only its reference
    cycles, if any, would stay. Costs one full collection per model load (which the event loop
    waits for too, through the GIL), instead of one every few hundred requests."""
    gc.collect()
    gc.freeze()


@functools.cache
def online_server() -> OnlineServer:
    """The process's server (built on first use, from the settings of that moment)."""
    return OnlineServer()
