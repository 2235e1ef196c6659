"""The streaming profiler: an observer of :func:`mlsys.predict.stream.predict_stream` that
counts every chunk's features and predictions over the reference's bins, as the rows go by
(no second read of the table). A few numpy calls per feature and chunk: see the profiling
variant of ``bench/predict.py``."""

from __future__ import annotations

import logging
from collections.abc import Collection

import numpy as np
import pyarrow as pa

from mlsys.monitoring.profile import (
    Histogram,
    Profile,
    count_categorical,
    count_labels,
    count_numeric,
    numeric_values,
)

log = logging.getLogger(__name__)


class StreamProfiler:
    """Builds the profile of a job's rows over the bins of ``reference``."""

    def __init__(self, reference: Profile, *, available: Collection[str] | None = None) -> None:
        self.reference = reference
        self.columns = [n for n in reference.features if available is None or n in available]
        self.rows = 0
        self.skipped: dict[str, str] = {}  # feature -> why it could not be profiled
        self._counts = {
            n: np.zeros(len(reference.features[n].counts), np.int64) for n in self.columns
        }
        self._nulls = dict.fromkeys(self.columns, 0)
        self._edges = {
            n: np.asarray(reference.features[n].edges, dtype=np.float64) for n in self.columns
        }
        self._positions = {
            n: {c: i for i, c in enumerate(reference.features[n].categories)} for n in self.columns
        }
        pred = reference.prediction
        self._pred = np.zeros(len(pred.counts), np.int64) if pred is not None else None
        self._pred_nulls = 0
        self._pred_edges = np.asarray(pred.edges if pred else [], dtype=np.float64)
        self._pred_positions = {c: i for i, c in enumerate(pred.categories)} if pred else {}

    # -- the observer protocol -------------------------------------------------------------
    def start(self) -> None:
        """Nothing to open: counts live in memory."""

    def observe(
        self, batch: pa.RecordBatch, prediction: np.ndarray, proba: np.ndarray | None
    ) -> None:
        """Add one chunk's rows and predictions to the counts."""
        for name in self.columns:
            if name in self.skipped:
                continue
            try:
                counts, nulls = self._count(name, batch.column(name))
            except (pa.ArrowException, KeyError, ValueError, TypeError) as exc:
                # A column profiling cannot read loses its drift figure, never the job.
                self.skipped[name] = str(exc)[:200]
                log.warning("not profiling %s: %s", name, exc)
                continue
            self._counts[name] += counts
            self._nulls[name] += nulls
        if self._pred is not None and self.reference.prediction is not None:
            self._count_prediction(self.reference.prediction, prediction)
        self.rows += batch.num_rows

    def finish(self) -> None:
        """Nothing to publish: :meth:`profile` has the result."""

    def abort(self) -> None:
        """Nothing to drop."""

    # -- counting --------------------------------------------------------------------------
    def _count(self, name: str, column: pa.Array) -> tuple[np.ndarray, int]:
        if self.reference.features[name].kind == "numeric":
            return count_numeric(numeric_values(column), self._edges[name])
        return count_categorical(column, self._positions[name])

    def _count_prediction(self, reference: Histogram, prediction: np.ndarray) -> None:
        assert self._pred is not None
        if reference.kind == "categorical":
            self._pred += count_labels(prediction, self._pred_positions)
            return
        counts, nulls = count_numeric(
            np.asarray(prediction, dtype=np.float64).ravel(), self._pred_edges
        )
        self._pred += counts
        self._pred_nulls += nulls

    def profile(self) -> Profile:
        """The profile of every row observed so far (mergeable with other shards')."""
        features = {}
        for name in self.columns:
            if name in self.skipped:
                continue
            ref = self.reference.features[name]
            features[name] = Histogram(
                ref.kind, self._counts[name].tolist(), self._nulls[name], ref.edges, ref.categories
            )
        prediction = None
        if self._pred is not None and self.reference.prediction is not None:
            ref = self.reference.prediction
            prediction = Histogram(
                ref.kind, self._pred.tolist(), self._pred_nulls, ref.edges, ref.categories
            )
        return Profile(self.rows, features, prediction)
