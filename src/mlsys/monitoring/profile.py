"""Profiles: per-feature histograms of a table and of the model's predictions on it.

A profile is COUNTS over FIXED bins: the reference profile (the training data, written by
:func:`mlsys.log_model` as ``profile.json``) chooses the bins, and every later profile (a
prediction job's input, a shard of it) counts over the reference's bins. Counts over the same
bins add up, so the profiles of a job's shards merge into the job's profile exactly
(:meth:`Profile.merge`), and drift is a comparison of two histograms with the same bins.

- numeric: quantile bin edges of the reference (``NUMERIC_BINS`` bins); bin ``i`` holds
  ``edges[i-1] < x <= edges[i]``, the first and last bins are open-ended;
- categorical: the reference's ``MAX_CATEGORIES`` most frequent values, plus one bin for
  anything else (``OTHER``);
- nulls (NULL and NaN) are counted apart from the bins.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlsys.errors import InvalidInput

FORMAT = "mlsys-profile/1"
NUMERIC_BINS = 10
MAX_CATEGORIES = 30
OTHER = "__other__"
PREDICTION = "prediction"

Kind = Literal["numeric", "categorical"]


@dataclass
class Histogram:
    """Counts of one column over fixed bins, and its nulls."""

    kind: Kind
    counts: list[int]
    nulls: int = 0
    edges: list[float] = field(default_factory=list)  # numeric: len(counts) - 1 edges
    categories: list[str] = field(default_factory=list)  # categorical: len(counts) - 1 values

    @property
    def rows(self) -> int:
        return sum(self.counts) + self.nulls

    @property
    def null_rate(self) -> float:
        return self.nulls / self.rows if self.rows else 0.0

    def empty(self) -> Histogram:
        """The same bins with no rows counted (what a job starts from)."""
        return Histogram(self.kind, [0] * len(self.counts), 0, self.edges, self.categories)

    def add(self, other: Histogram) -> None:
        """Add the counts of ``other``, which must have the same bins."""
        if (other.kind, other.edges, other.categories) != (self.kind, self.edges, self.categories):
            raise InvalidInput("cannot merge histograms over different bins")
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        self.nulls += other.nulls

    def labels(self) -> list[str]:
        """A readable label per bin (charts, the CLI)."""
        if self.kind == "categorical":
            return [*self.categories, "other"]
        if not self.edges:
            return ["all"]
        bounds = [f"{e:.4g}" for e in self.edges]
        return (
            [f"<= {bounds[0]}"]
            + [f"{lo} - {hi}" for lo, hi in itertools.pairwise(bounds)]
            + [f"> {bounds[-1]}"]
        )

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"kind": self.kind, "counts": self.counts, "nulls": self.nulls}
        if self.kind == "numeric":
            body["edges"] = self.edges
        else:
            body["categories"] = self.categories
        return body

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Histogram:
        kind = data.get("kind")
        counts = [int(c) for c in data.get("counts") or []]
        edges = [float(e) for e in data.get("edges") or []]
        categories = [str(c) for c in data.get("categories") or []]
        bins = len(edges) if kind == "numeric" else len(categories)
        if kind not in ("numeric", "categorical") or len(counts) != bins + 1:
            raise InvalidInput(
                f"invalid histogram {dict(data)!r}: expected kind numeric (edges) or categorical "
                "(categories) and one count more than edges/categories"
            )
        return cls(kind, counts, int(data.get("nulls") or 0), edges, categories)


@dataclass
class Profile:
    """Histograms of the features and of the model's predictions, over the same rows."""

    rows: int
    features: dict[str, Histogram]
    prediction: Histogram | None = None

    def empty(self) -> Profile:
        """The same bins with nothing counted."""
        return Profile(
            0,
            {name: h.empty() for name, h in self.features.items()},
            self.prediction.empty() if self.prediction else None,
        )

    def merge(self, other: Profile) -> Profile:
        """The profile of both sets of rows (e.g. two shards of one job)."""
        merged = Profile(
            self.rows + other.rows,
            {n: _copy(h) for n, h in self.features.items()},
            _copy(self.prediction) if self.prediction else None,
        )
        for name, hist in other.features.items():
            merged.features[name].add(hist)
        if merged.prediction is not None and other.prediction is not None:
            merged.prediction.add(other.prediction)
        return merged

    def to_json(self) -> str:
        body = {
            "format": FORMAT,
            "rows": self.rows,
            "features": {name: h.to_dict() for name, h in self.features.items()},
            "prediction": self.prediction.to_dict() if self.prediction else None,
        }
        return json.dumps(body, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Profile:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"profile is not valid JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise InvalidInput(f"not an mlsys profile: expected format {FORMAT!r}")
        features = {str(n): Histogram.from_dict(h) for n, h in (data["features"] or {}).items()}
        prediction = Histogram.from_dict(data["prediction"]) if data.get("prediction") else None
        return cls(int(data.get("rows") or 0), features, prediction)


def _copy(hist: Histogram) -> Histogram:
    return Histogram(hist.kind, list(hist.counts), hist.nulls, hist.edges, hist.categories)


# -- counting (the same functions build the reference and every later profile) -----------------
def numeric_values(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Float64 values of a numeric (or boolean, decimal) column; NULL becomes NaN."""
    if column.type != pa.float64():
        column = column.cast(pa.float64())
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)


def count_numeric(values: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, int]:
    """Counts per bin of ``values`` over ``edges`` (right-closed bins), and the NaNs.

    One vectorised comparison per edge (``values <= edge``, NaN never counts) and differences
    of those cumulative counts: about 8x faster than ``searchsorted`` + ``bincount`` for the
    ten bins of a profile (measured: 0.3 s -> 0.04 s on 1M rows x 10 features)."""
    nulls = int(np.count_nonzero(np.isnan(values)))
    at_most = [np.count_nonzero(values <= edge) for edge in edges.tolist()]
    cumulative = np.asarray([*at_most, len(values) - nulls], dtype=np.int64)
    return np.diff(cumulative, prepend=0), nulls


def count_categorical(
    column: pa.Array | pa.ChunkedArray, positions: Mapping[str, int]
) -> tuple[np.ndarray, int]:
    """Counts per category (``positions``: value -> bin; others in the last bin), and nulls."""
    counts = np.zeros(len(positions) + 1, dtype=np.int64)
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        column = column.cast(pa.string())
    nulls = column.null_count
    if len(column) - nulls:
        tally = pc.value_counts(column.drop_null() if nulls else column)
        for value, count in zip(
            tally.field("values").to_pylist(), tally.field("counts").to_pylist(), strict=True
        ):
            counts[positions.get(value, len(positions))] += count
    return counts, nulls


def quantile_edges(values: np.ndarray, bins: int = NUMERIC_BINS) -> list[float]:
    """Unique quantile edges splitting the non-NaN ``values`` into about ``bins`` bins."""
    valid = values[~np.isnan(values)]
    if not len(valid):
        return []
    # Edges are observed values (no interpolation), so a discrete feature (a class, a count)
    # gets bins that hold whole values.
    quantiles = np.linspace(0, 1, bins + 1)[1:-1]
    edges = np.unique(np.quantile(valid, quantiles, method="inverted_cdf"))
    return [float(e) for e in edges if math.isfinite(e)]


def top_categories(column: pa.Array, limit: int = MAX_CATEGORIES) -> list[str]:
    """The ``limit`` most frequent values (ties by value, so the choice is stable)."""
    column = column.cast(pa.string()) if not pa.types.is_string(column.type) else column
    tally = pc.value_counts(column.drop_null())
    pairs = zip(tally.field("values").to_pylist(), tally.field("counts").to_pylist(), strict=True)
    ranked = sorted(pairs, key=lambda vc: (-vc[1], vc[0]))
    return [value for value, _ in ranked[:limit]]


def histogram_of(column: pa.Array, kind: Kind, *, like: Histogram | None = None) -> Histogram:
    """The histogram of ``column``: over the bins of ``like``, else over bins chosen from it."""
    if kind == "numeric":
        values = numeric_values(column)
        edges = like.edges if like is not None else quantile_edges(values)
        counts, nulls = count_numeric(values, np.asarray(edges, dtype=np.float64))
        return Histogram("numeric", counts.tolist(), nulls, edges=edges)
    categories = like.categories if like is not None else top_categories(column)
    counts, nulls = count_categorical(column, {c: i for i, c in enumerate(categories)})
    return Histogram("categorical", counts.tolist(), nulls, categories=categories)


def kind_of(arrow_type: pa.DataType) -> Kind:
    """Numbers and booleans are profiled as numeric; everything else as categories."""
    numeric = (
        pa.types.is_integer(arrow_type)
        or pa.types.is_floating(arrow_type)
        or pa.types.is_boolean(arrow_type)
        or pa.types.is_decimal(arrow_type)
    )
    return "numeric" if numeric else "categorical"


def label_key(value: Any) -> str:
    """How a predicted label is named in a histogram (``1``, ``yes``, ``True``)."""
    return str(value.item() if isinstance(value, np.generic) else value)


def count_labels(labels: np.ndarray, positions: Mapping[str, int]) -> np.ndarray:
    """Counts per predicted label (``positions``: label key -> bin; others in the last bin)."""
    counts = np.zeros(len(positions) + 1, dtype=np.int64)
    labels = np.asarray(labels).ravel()
    try:
        values, tally = np.unique(labels, return_counts=True)
        pairs: list[tuple[Any, int]] = list(zip(values.tolist(), tally.tolist(), strict=True))
    except TypeError:  # mixed object labels numpy cannot sort
        from collections import Counter

        pairs = list(Counter(label_key(v) for v in labels.tolist()).items())
    for value, count in pairs:
        counts[positions.get(label_key(value), len(positions))] += count
    return counts
