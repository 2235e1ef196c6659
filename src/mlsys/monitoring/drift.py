"""Drift: how far a job's histograms are from the reference's, per feature and for the
predictions, and what status that earns under ``monitoring.yaml``.

- PSI (population stability index): ``sum((p - q) * ln(p / q))`` over the bins, with empty bins
  floored at ``EPSILON``; the industry's rule of thumb is < 0.1 stable, > 0.25 shifted.
- Jensen-Shannon distance (base 2): the square root of the JS divergence, in [0, 1]; symmetric
  and finite even when a bin is empty on one side.
- Null rates are compared apart: the bins hold non-null values only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlsys.monitoring.config import MonitoringConfig, Status
from mlsys.monitoring.profile import PREDICTION, Histogram, Profile

#: Floor of a bin's share in PSI (an empty bin would make it infinite).
EPSILON = 1e-4


def shares(counts: list[int] | np.ndarray) -> np.ndarray | None:
    """Counts as shares of their total (None when there is nothing to compare)."""
    total = float(np.sum(counts))
    return np.asarray(counts, dtype=np.float64) / total if total > 0 else None


def psi(current: list[int] | np.ndarray, reference: list[int] | np.ndarray) -> float | None:
    """Population stability index of ``current`` against ``reference`` (same bins)."""
    p, q = shares(current), shares(reference)
    if p is None or q is None:
        return None
    p, q = np.maximum(p, EPSILON), np.maximum(q, EPSILON)
    return float(np.sum((p - q) * np.log(p / q)))


def js_distance(a: list[int] | np.ndarray, b: list[int] | np.ndarray) -> float | None:
    """Jensen-Shannon distance (base 2) between two histograms over the same bins."""
    p, q = shares(a), shares(b)
    if p is None or q is None:
        return None
    m = (p + q) / 2

    def kl(x: np.ndarray) -> float:
        nz = x > 0
        return float(np.sum(x[nz] * np.log2(x[nz] / m[nz])))

    return float(np.sqrt(max(0.0, (kl(p) + kl(q)) / 2)))


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's (or the predictions') drift in one job: a row of ``prediction_drift``."""

    feature: str
    role: str  # "feature" or "prediction"
    kind: str
    psi: float | None
    js_distance: float | None
    null_rate: float
    reference_null_rate: float
    rows: int
    status: Status
    labels: tuple[str, ...]
    reference: tuple[float, ...]  # shares per bin
    current: tuple[float, ...]


def feature_drift(
    name: str,
    role: str,
    reference: Histogram,
    current: Histogram,
    config: MonitoringConfig,
    *,
    model_name: str,
) -> FeatureDrift:
    """Compare one histogram with its reference and give it a status."""
    value = psi(current.counts, reference.counts)
    js = js_distance(current.counts, reference.counts)
    policy = config.policy(model_name, name)
    status = policy.status(
        psi=value, js=js, null_increase=max(0.0, current.null_rate - reference.null_rate)
    )
    ref, cur = shares(reference.counts), shares(current.counts)
    return FeatureDrift(
        feature=name,
        role=role,
        kind=reference.kind,
        psi=_round(value),
        js_distance=_round(js),
        null_rate=round(current.null_rate, 6),
        reference_null_rate=round(reference.null_rate, 6),
        rows=current.rows,
        status=status,
        labels=tuple(reference.labels()),
        reference=tuple(round(float(x), 6) for x in (ref if ref is not None else [])),
        current=tuple(round(float(x), 6) for x in (cur if cur is not None else [])),
    )


def compare(
    reference: Profile, current: Profile, config: MonitoringConfig, *, model_name: str
) -> list[FeatureDrift]:
    """Drift of every profiled feature, then of the predictions."""
    rows = [
        feature_drift(
            name, "feature", reference.features[name], hist, config, model_name=model_name
        )
        for name, hist in current.features.items()
        if name in reference.features
    ]
    if reference.prediction is not None and current.prediction is not None:
        rows.append(
            feature_drift(
                PREDICTION,
                "prediction",
                reference.prediction,
                current.prediction,
                config,
                model_name=model_name,
            )
        )
    return rows


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
