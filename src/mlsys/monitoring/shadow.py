"""Shadow scoring: a challenger version scores the same chunks as the champion, in the same pass.

:class:`ShadowScorer` is an observer of :func:`mlsys.predict.stream.predict_stream`: for each
chunk the champion scored, it scores the same rows with the challenger, hands the challenger's
output rows (same id columns) to a sink of its own, and tallies how often the two agree.
Its sink is a second staging table of the shard (:class:`~mlsys.predict.staging.StagingWriter`),
committed with the main one; the publisher moves it into ``{output}__shadow`` just BEFORE the
main output (:mod:`mlsys.predict.publish`), so a published main output always has its shadow,
and a failed job leaves neither half-written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from mlsys.monitoring.drift import js_distance, psi, shares
from mlsys.monitoring.profile import (
    Histogram,
    count_labels,
    count_numeric,
    label_key,
    quantile_edges,
)
from mlsys.predict.features import FeaturePlan, model_input
from mlsys.predict.output import OutputPlan
from mlsys.predict.scoring import Scorer
from mlsys.predict.staging import BatchSink
from mlsys.predict.stream import SinkWriter

log = logging.getLogger(__name__)

SHADOW_SUFFIX = "__shadow"
LABEL_AGREEMENT = "label_agreement"
MEAN_ABS_DIFF = "mean_abs_diff"


@dataclass(frozen=True)
class Comparison:
    """The challenger against the champion over the same rows."""

    rows: int
    metric: str  # label_agreement | mean_abs_diff
    agreement: float | None
    psi: float | None
    js_distance: float | None
    labels: tuple[str, ...]
    champion: tuple[float, ...]  # shares per bin
    challenger: tuple[float, ...]


class Agreement:
    """Tallies, chunk by chunk, how the challenger's predictions compare with the champion's.

    Classifiers: the share of rows with the same label, and the two label distributions.
    Regressors: the mean absolute difference, and the two distributions over the champion
    reference's quantile bins (``edges``), else bins chosen on the first chunk.
    """

    def __init__(self, labels: list[str] | None, edges: list[float] | None = None) -> None:
        self.classifier = labels is not None
        self.positions = {c: i for i, c in enumerate(labels or [])}
        self.edges = None if edges is None else np.asarray(edges, dtype=np.float64)
        self.rows = 0
        self.same = 0.0  # equal labels, or the sum of absolute differences
        self.champion: np.ndarray | None = None
        self.challenger: np.ndarray | None = None

    def add(self, champion: np.ndarray, challenger: np.ndarray) -> None:
        champion, challenger = np.asarray(champion).ravel(), np.asarray(challenger).ravel()
        if self.classifier:
            self.same += float(np.sum(_keys(champion) == _keys(challenger)))
            a = count_labels(champion, self.positions)
            b = count_labels(challenger, self.positions)
        else:
            x, y = champion.astype(np.float64), challenger.astype(np.float64)
            self.same += float(np.nansum(np.abs(x - y)))
            if self.edges is None:
                self.edges = np.asarray(quantile_edges(x), dtype=np.float64)
            a, _ = count_numeric(x, self.edges)
            b, _ = count_numeric(y, self.edges)
        self.champion = a if self.champion is None else self.champion + a
        self.challenger = b if self.challenger is None else self.challenger + b
        self.rows += len(champion)

    def result(self) -> Comparison:
        empty = np.zeros(1, dtype=np.int64)
        a = self.champion if self.champion is not None else empty
        b = self.challenger if self.challenger is not None else empty
        if self.classifier:
            labels = [*self.positions, "other"]
        else:
            edges = [] if self.edges is None else self.edges.tolist()
            labels = Histogram("numeric", [0] * (len(edges) + 1), edges=edges).labels()
        pa_, pb = shares(a), shares(b)
        return Comparison(
            rows=self.rows,
            metric=LABEL_AGREEMENT if self.classifier else MEAN_ABS_DIFF,
            agreement=round(self.same / self.rows, 6) if self.rows else None,
            psi=_round(psi(b, a)),
            js_distance=_round(js_distance(a, b)),
            labels=tuple(labels),
            champion=tuple(round(float(x), 6) for x in (pa_ if pa_ is not None else [])),
            challenger=tuple(round(float(x), 6) for x in (pb if pb is not None else [])),
        )


def _keys(labels: np.ndarray) -> np.ndarray:
    """Labels compared by their names, so 1 and 1.0 or numpy and Python types agree."""
    if labels.dtype.kind in "biuf":
        return labels.astype(np.float64)
    return np.asarray([label_key(v) for v in labels.tolist()], dtype=object)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def agreement_for(champion: Any, challenger: Any, edges: list[float] | None) -> Agreement:
    """The tally for two models: by label when both are classifiers, else by value."""
    a, b = getattr(champion, "classes_", None), getattr(challenger, "classes_", None)
    if a is not None and b is not None:
        labels = list(dict.fromkeys(label_key(c) for c in [*np.asarray(a), *np.asarray(b)]))
        return Agreement(labels)
    return Agreement(None, edges)


class ShadowScorer:
    """Scores every chunk again with the challenger into its own sink (an observer)."""

    def __init__(
        self,
        *,
        model: Any,
        features: FeaturePlan,
        output: OutputPlan,
        sink: BatchSink,
        agreement: Agreement,
    ) -> None:
        self.model = model
        self.features = features
        self.output = output
        self.sink = sink
        self.agreement = agreement
        self.columns = list(dict.fromkeys([*features.names, *output.id_columns]))
        classes = None if output.classes is None else np.asarray(model.classes_)
        self.scorer = Scorer(model, classes)
        self.writer: SinkWriter | None = None
        self.published: int | None = None

    def start(self) -> None:
        """Check (or create) the shadow output and start its staging table."""
        self.sink.open(self.output.schema)
        self.writer = SinkWriter(self.sink)

    def observe(
        self, batch: pa.RecordBatch, prediction: np.ndarray, proba: np.ndarray | None
    ) -> None:
        assert self.writer is not None, "start() opens the sink first"
        shadow, shadow_proba = self.scorer(
            model_input(batch, self.features), first_row=self.agreement.rows
        )
        self.writer.put(self.output.batch(batch, shadow, shadow_proba))
        self.agreement.add(prediction, shadow)

    def finish(self) -> None:
        """Commit the shadow's staged rows (published with the main ones: see the module's
        docstring)."""
        assert self.writer is not None
        self.writer.close()
        self.published = self.sink.commit()

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.close_quietly()
        try:
            self.sink.abort()
        except Exception:  # the main job's error is the one to report
            log.warning("could not clean up the shadow output", exc_info=True)

    def comparison(self) -> Comparison:
        return self.agreement.result()


def compare_on(table: pa.Table, champion: Any, challenger: Any) -> Comparison:
    """The comparison a shadow job makes, in memory over ``table`` (e.g. the promotion gate's
    sample): both are resolved models (:class:`mlsys.predict.plan.ResolvedModel`)."""
    from mlsys.predict.features import check_input, plan_features
    from mlsys.predict.output import plan_output
    from mlsys.predict.sources import MemorySource
    from mlsys.predict.staging import MemorySink
    from mlsys.predict.stream import predict_stream

    def plans(resolved: Any) -> tuple[FeaturePlan, OutputPlan]:
        features = plan_features(resolved.model, resolved.metadata)
        check_input(table.schema, features)
        output = plan_output(
            input_schema=table.schema,
            id_columns=[],
            model=resolved.model,
            model_name=resolved.model_name,
            model_version=resolved.version,
            job_id="agreement",
        )
        return features, output

    features, output = plans(champion)
    shadow_features, shadow_output = plans(challenger)
    shadow = ShadowScorer(
        model=challenger.model,
        features=shadow_features,
        output=shadow_output,
        sink=MemorySink(keep=False),
        agreement=agreement_for(champion.model, challenger.model, None),
    )
    predict_stream(
        model=champion.model,
        features=features,
        output=output,
        source=MemorySource(table),
        sink=MemorySink(keep=False),
        observers=[shadow],
    )
    return shadow.comparison()
