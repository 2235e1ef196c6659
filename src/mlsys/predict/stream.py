"""The streaming core: read a chunk, score it, write it; three stages overlapped by threads.

Readers (in the source) prefetch the next chunks while the model scores this one, and a writer
thread hands finished chunks to the sink (a Storage Write API stream) while the model goes on.
Queues between the stages are bounded, so memory does not grow with the table.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import queue
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pyarrow as pa

from mlsys.predict.features import FeaturePlan, model_input
from mlsys.predict.output import OutputPlan
from mlsys.predict.scoring import Scorer
from mlsys.predict.sources import BatchSource
from mlsys.predict.staging import BatchSink

log = logging.getLogger(__name__)

#: Output chunks waiting for the writer; the scorer blocks when it is this far ahead.
WRITE_QUEUE = 2
#: glibc serves allocations from this size up with mmap and returns them to the OS on free.
#: Its default threshold adapts upwards after big frees, after which multi-MB buffers (gRPC
#: messages, Parquet files) are carved from per-thread heaps that fragment: peak RSS then grew
#: ~90 MiB more on 1M rows. A fixed threshold keeps RSS following the live data.
MMAP_THRESHOLD_BYTES = 1 << 20
_M_MMAP_THRESHOLD = -3

Progress = Callable[[int, int | None], None]


class StreamObserver(Protocol):
    """Sees every scored chunk in the scoring thread: its input rows (the model's features,
    the id columns and the observer's own ``columns``) and the model's answers. Drift profiles
    and shadow scoring are observers (:mod:`mlsys.monitoring`)."""

    @property
    def columns(self) -> Sequence[str]:
        """Input columns the observer reads besides the features and ids."""

    def start(self) -> None: ...

    def observe(
        self, batch: pa.RecordBatch, prediction: np.ndarray, proba: np.ndarray | None
    ) -> None: ...

    def finish(self) -> None:
        """Every chunk was seen; runs before the output is published (raise to fail the job)."""

    def abort(self) -> None:
        """The job failed: drop whatever was kept (must not raise)."""


@dataclass(frozen=True)
class StreamResult:
    rows_read: int
    rows_written: int


class SinkWriter:
    """A thread that writes batches to a sink; its first error is re-raised to the caller."""

    _STOP = object()

    def __init__(self, sink: BatchSink) -> None:
        self.sink = sink
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=WRITE_QUEUE)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="mlsys-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is self._STOP:
                return
            if self.error is None:
                try:
                    self.sink.write(item)
                except BaseException as exc:  # re-raised in the scoring thread
                    self.error = exc

    def put(self, batch: pa.RecordBatch) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(batch)

    def close_quietly(self) -> None:
        """Stop after a failure elsewhere (pending batches are dropped, errors ignored)."""
        self.error = self.error or RuntimeError("cancelled")
        if self.thread.is_alive():
            self.queue.put(self._STOP)
            self.thread.join()

    def close(self) -> None:
        self.queue.put(self._STOP)
        self.thread.join()
        if self.error is not None:
            raise self.error


@functools.cache
def release_large_buffers() -> bool:
    """Fix glibc's mmap threshold once per process (no-op elsewhere); True if applied."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        applied = bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    except (OSError, AttributeError):  # not glibc (e.g. musl): nothing to tune
        return False
    log.debug("glibc mmap threshold fixed at %d bytes: %s", MMAP_THRESHOLD_BYTES, applied)
    return applied


def predict_stream(
    *,
    model: Any,
    features: FeaturePlan,
    output: OutputPlan,
    source: BatchSource,
    sink: BatchSink,
    progress: Progress | None = None,
    observers: Sequence[StreamObserver] = (),
) -> StreamResult:
    """Score every row of ``source`` into ``sink``; publish only if all chunks succeeded.

    ``observers`` see each chunk after it is scored, and finish before the publish."""
    release_large_buffers()
    classes = None if output.classes is None else _classes(model)
    scorer = Scorer(model, classes)
    extra = [c for observer in observers for c in observer.columns]
    columns = list(dict.fromkeys([*features.names, *output.id_columns, *extra]))
    sink.open(output.schema)
    writer = SinkWriter(sink)
    rows = 0
    try:
        for observer in observers:
            observer.start()
        for batch in source.batches(columns):
            prediction, proba = scorer(model_input(batch, features), first_row=rows)
            writer.put(output.batch(batch, prediction, proba))
            for observer in observers:
                observer.observe(batch, prediction, proba)
            rows += batch.num_rows
            if progress is not None:
                progress(rows, source.num_rows)
        writer.close()
        for observer in observers:
            observer.finish()
        written = sink.commit()
    except BaseException:
        writer.close_quietly()
        for observer in observers:
            observer.abort()
        sink.abort()
        raise
    return StreamResult(rows_read=rows, rows_written=written)


def _classes(model: Any) -> Any:
    return np.asarray(model.classes_)
