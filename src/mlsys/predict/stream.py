"""The streaming core: read a chunk, score it, write it; three stages overlapped by threads.

Readers (in the source) prefetch the next chunks while the model scores this one, and a writer
thread hands finished chunks to the sink (Parquet + load job) while the model goes on. Queues
between the stages are bounded, so memory does not grow with the table.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from mlsys.predict.features import FeaturePlan, model_input
from mlsys.predict.output import OutputPlan
from mlsys.predict.scoring import Scorer
from mlsys.predict.sinks import BatchSink
from mlsys.predict.sources import BatchSource

#: Output chunks waiting for the writer; the scorer blocks when it is this far ahead.
WRITE_QUEUE = 2

Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class StreamResult:
    rows_read: int
    rows_written: int


class _Writer:
    """A thread that writes batches to the sink; its first error is re-raised to the caller."""

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


def predict_stream(
    *,
    model: Any,
    features: FeaturePlan,
    output: OutputPlan,
    source: BatchSource,
    sink: BatchSink,
    progress: Progress | None = None,
) -> StreamResult:
    """Score every row of ``source`` into ``sink``; publish only if all chunks succeeded."""
    classes = None if output.classes is None else _classes(model)
    scorer = Scorer(model, classes)
    columns = list(dict.fromkeys([*features.names, *output.id_columns]))
    sink.open(output.schema)
    writer = _Writer(sink)
    rows = 0
    try:
        for batch in source.batches(columns):
            prediction, proba = scorer(model_input(batch, features), first_row=rows)
            writer.put(output.batch(batch, prediction, proba))
            rows += batch.num_rows
            if progress is not None:
                progress(rows, source.num_rows)
        writer.close()
        written = sink.commit()
    except BaseException:
        writer.close_quietly()
        sink.abort()
        raise
    return StreamResult(rows_read=rows, rows_written=written)


def _classes(model: Any) -> Any:
    import numpy as np

    return np.asarray(model.classes_)
