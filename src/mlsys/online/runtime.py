"""A version being served: how it scores rows, and which runtime does it.

A version always has its artifact's runtime (``sklearn`` for pickle/joblib/skops, ``onnx`` for a
``model.onnx``). When it also has a verified ONNX export (``exports/bqml.onnx``), onnxruntime is a
candidate: the first :attr:`Settings.online_onnx_trial_rows` rows served are scored by both, the
artifact's answer is returned, and the candidate is kept only if it agreed on every row (same
labels and classes, probabilities within :attr:`Settings.online_onnx_tolerance`) AND took less
time on those same rows. The decision is made once per loaded version and logged.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlsys.errors import MlsysError, PredictionFailed
from mlsys.online.instances import Instances
from mlsys.predict.features import FeaturePlan, columns_input, plan_features
from mlsys.predict.output import classes_of
from mlsys.predict.scoring import Scorer

log = logging.getLogger(__name__)


class Runtime:
    """One way to score: a model object, its feature plan and the batch path's Scorer."""

    def __init__(self, name: str, model: Any, metadata: dict[str, Any] | None) -> None:
        self.name = name
        self.model = model
        self.plan: FeaturePlan = plan_features(model, metadata)
        self.classes = classes_of(model)
        self.scorer = Scorer(model, self.classes)

    def score(self, rows: Instances) -> tuple[np.ndarray, np.ndarray | None]:
        return self.scorer(columns_input(rows.columns, self.plan))


@dataclass(frozen=True)
class Prediction:
    """The answer to one request."""

    predictions: list[Any]
    probabilities: list[list[float]] | None
    classes: list[Any] | None
    model_version: int
    runtime: str

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()

    def to_dict(self) -> dict[str, Any]:
        return {
            "predictions": self.predictions,
            "probabilities": self.probabilities,
            "classes": self.classes,
            "model_version": self.model_version,
        }


@dataclass
class Trial:
    """Both runtimes on the same first rows: do they agree, and which is faster."""

    rows: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    max_difference: float = 0.0
    disagreement: str | None = None


class ServedModel:
    """A loaded version: checks nothing itself (the instances are checked), scores batches."""

    def __init__(
        self,
        *,
        model_name: str,
        version: int,
        primary: Runtime,
        candidate: Runtime | None,
        trial_rows: int,
        tolerance: float,
    ) -> None:
        self.model_name = model_name
        self.version = version
        self.primary = primary
        self.plan = primary.plan  # what requests are checked against
        self.candidate = candidate
        self.tolerance = tolerance
        self.trial_rows = trial_rows
        self.trial = Trial()
        self.classes = None if primary.classes is None else primary.classes.tolist()
        self.decision = ""
        self.chosen: Runtime | None = None
        self.loaded_at = time.time()
        self.requests = 0
        self.batches = 0
        self._lock = threading.Lock()
        if candidate is None:
            self._decide(primary, "the only runtime of this version")
        elif trial_rows == 0:
            self._decide(primary, "ONNX exports are not tried (MLSYS_ONLINE_ONNX_TRIAL_ROWS=0)")
        elif not _same_classes(primary, candidate):
            self._decide(primary, f"the export's classes {candidate.classes} differ")

    @property
    def runtime(self) -> str:
        return (self.chosen or self.primary).name

    def score_many(self, parts: Sequence[Instances]) -> list[Prediction | MlsysError]:
        """One answer per request, scored together; a request whose rows fail gets its own
        error and never fails the others."""
        with self._lock:
            self.requests += len(parts)
            self.batches += 1
        return self._answers(parts)

    def status(self) -> dict[str, Any]:
        """What is served and why (``GET /online/models``)."""
        return {
            "model_name": self.model_name,
            "model_version": self.version,
            "runtime": self.runtime,
            "candidate": self.candidate.name if self.candidate else None,
            "decision": self.decision or f"trial: {self.trial.rows}/{self.trial_rows} rows",
            "trial_seconds": dict(self.trial.seconds),
            "requests": self.requests,
            "batches": self.batches,
            "loaded_at": self.loaded_at,
        }

    # -- scoring -------------------------------------------------------------------------------
    def _score(self, rows: Instances) -> tuple[np.ndarray, np.ndarray | None, str]:
        chosen = self.chosen
        if chosen is not None:
            labels, proba = chosen.score(rows)
            return labels, proba, chosen.name
        assert self.candidate is not None
        warm = self.trial.rows == 0  # first calls pay one-off costs: time the second
        reference = _timed(self.primary, rows, warm)
        try:
            other = _timed(self.candidate, rows, warm)
        except Exception as exc:  # any failure of the candidate keeps the artifact's runtime
            self._decide(self.primary, f"the ONNX export failed: {exc}")
        else:
            self._record(rows.count, reference, other)
        return reference[0], reference[1], self.primary.name

    def _record(self, rows: int, ref: tuple[Any, ...], other: tuple[Any, ...]) -> None:
        with self._lock:
            if self.chosen is not None:
                return
            trial = self.trial
            trial.rows += rows
            for runtime, result in ((self.primary, ref), (self.candidate, other)):
                assert runtime is not None
                trial.seconds[runtime.name] = trial.seconds.get(runtime.name, 0.0) + result[2]
            difference, why = _compare(ref, other, self.tolerance)
            trial.max_difference = max(trial.max_difference, difference)
            trial.disagreement = trial.disagreement or why
            if trial.disagreement:
                self._decide_locked(self.primary, trial.disagreement)
            elif trial.rows >= self.trial_rows:
                self._choose_faster()

    def _choose_faster(self) -> None:
        assert self.candidate is not None
        seconds = self.trial.seconds
        ours, theirs = seconds[self.primary.name], seconds[self.candidate.name]
        faster = self.candidate if theirs < ours else self.primary
        self._decide_locked(
            faster,
            f"agreed on {self.trial.rows} rows (max difference {self.trial.max_difference:.1e}, "
            f"tolerance {self.tolerance:.0e}); {self.primary.name} {ours * 1e3:.2f} ms, "
            f"{self.candidate.name} {theirs * 1e3:.2f} ms",
        )

    def _decide(self, runtime: Runtime, why: str) -> None:
        with self._lock:
            self._decide_locked(runtime, why)

    def _decide_locked(self, runtime: Runtime, why: str) -> None:
        if self.chosen is None:  # decided once per loaded version
            self.chosen, self.decision = runtime, f"{runtime.name}: {why}"
            log.info("%s v%s served by %s", self.model_name, self.version, self.decision)

    def _answers(self, parts: Sequence[Instances]) -> list[Prediction | MlsysError]:
        try:
            labels, proba, runtime = self._score(Instances.concat(parts))
        except MlsysError as exc:
            if len(parts) == 1:
                return [_as_error(exc, parts[0])]
            return [answer for part in parts for answer in self._answers([part])]
        answers: list[Prediction | MlsysError] = []
        start = 0
        for part in parts:
            end = start + part.count
            answers.append(
                Prediction(
                    predictions=_json_values(labels[start:end]),
                    probabilities=None if proba is None else _json_values(proba[start:end]),
                    classes=self.classes,
                    model_version=self.version,
                    runtime=runtime,
                )
            )
            start = end
        return answers


def _timed(runtime: Runtime, rows: Instances, warm: bool) -> tuple[Any, Any, float]:
    if warm:
        runtime.score(rows)
    start = time.perf_counter()
    labels, proba = runtime.score(rows)
    return labels, proba, time.perf_counter() - start


def _compare(ref: tuple[Any, ...], other: tuple[Any, ...], tolerance: float) -> tuple[float, str]:
    """The largest difference, and why the runtimes disagree ('' when they agree)."""
    (labels, proba, _), (labels2, proba2, _) = ref, other
    if proba is None:  # a regressor: the values within the tolerance, relative or absolute
        a, b = np.asarray(labels, dtype=np.float64), np.asarray(labels2, dtype=np.float64)
        difference = float(np.max(np.abs(a - b), initial=0.0))
        close = a.shape == b.shape and np.allclose(a, b, rtol=tolerance, atol=tolerance)
        return difference, "" if close else f"predictions differ by up to {difference:.1e}"
    if proba2 is None or proba.shape != proba2.shape:
        return float("inf"), "the export does not give the same probabilities"
    difference = float(np.max(np.abs(proba - proba2), initial=0.0))
    if not np.array_equal(np.asarray(labels), np.asarray(labels2)):
        unequal = int(np.sum(np.asarray(labels) != np.asarray(labels2)))
        return difference, f"labels differ on {unequal} of {len(labels)} rows"
    if difference > tolerance:
        return difference, f"probabilities differ by up to {difference:.1e}"
    return difference, ""


def _same_classes(a: Runtime, b: Runtime) -> bool:
    if a.classes is None or b.classes is None:
        return a.classes is None and b.classes is None
    return a.classes.tolist() == b.classes.tolist()


def _json_values(values: np.ndarray) -> list[Any]:
    """Labels or probabilities as JSON values; a non-finite number becomes null."""
    array = np.asarray(values)
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        finite = np.isfinite(array)
        array = array.astype(object)
        array[~finite] = None
    return list(array.tolist())


def _as_error(exc: MlsysError, part: Instances) -> MlsysError:
    """The error of one request's rows; the null fields are named when the model failed."""
    nulls = [name for name, values in part.columns.items() if any(v is None for v in values)]
    if not isinstance(exc, PredictionFailed) or not nulls:
        return exc
    return PredictionFailed(
        f"{exc.message}; null values in: {', '.join(nulls)} (does the model impute them?)",
        details={"fields": nulls},
    )
