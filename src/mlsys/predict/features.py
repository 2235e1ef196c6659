"""Which input columns a model takes, whether the input table has them, and how a chunk of
Arrow rows becomes the model's input (a float matrix, or a DataFrame of raw columns)."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from mlsys.errors import FeatureTypeError, MissingFeatures, SchemaMismatch

_NUMERIC_DTYPES = ("int", "uint", "float", "bool", "Int", "UInt", "Float", "boolean", "double")
_TEXT_DTYPES = ("object", "str", "string", "category")


@dataclass(frozen=True)
class Feature:
    """One model input column; ``kind`` is ``numeric``, ``text`` or None (anything).

    ``dtype`` is the declared pandas/numpy dtype, when the metadata gives one."""

    name: str
    kind: str | None = None
    dtype: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class FeaturePlan:
    """The features in model order, and whether the model wants a DataFrame."""

    features: tuple[Feature, ...]
    as_frame: bool

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def numeric(self) -> bool:
        return all(f.kind == "numeric" for f in self.features)


def kind_of_dtype(dtype: str | None) -> str | None:
    """``numeric``/``text`` for a pandas/numpy dtype name from ``metadata.json``."""
    if not dtype:
        return None
    if dtype.startswith(_NUMERIC_DTYPES):
        return "numeric"
    if dtype.startswith(_TEXT_DTYPES):
        return "text"
    return None


def plan_features(model: Any, metadata: Mapping[str, Any] | None) -> FeaturePlan:
    """Features from ``metadata.json`` ``features`` (ordered), else ``feature_names_in_``.

    A model that does its own preprocessing (a Pipeline, a ColumnTransformer, an ONNX graph with
    named inputs) gets raw columns in a DataFrame; a bare estimator gets a float matrix.
    """
    names_in = getattr(model, "feature_names_in_", None)
    declared = (metadata or {}).get("features") or None
    if declared:
        features = tuple(_feature_of(item) for item in declared)
    elif names_in is not None:
        features = tuple(Feature(str(n)) for n in names_in)
    else:
        raise SchemaMismatch(
            "the model does not say which columns it takes: expected `features` in its "
            "metadata.json or a model fitted on a DataFrame (feature_names_in_)"
        )
    raw = _does_own_preprocessing(model)
    if not raw:  # a bare estimator: every feature is a number
        features = tuple(Feature(f.name, f.kind or "numeric", f.dtype) for f in features)
    return FeaturePlan(features=features, as_frame=names_in is not None or raw)


def check_input(schema: pa.Schema, plan: FeaturePlan) -> None:
    """Raise :class:`MissingFeatures` / :class:`FeatureTypeError` naming the columns."""
    missing = [f.name for f in plan.features if f.name not in schema.names]
    if missing:
        raise MissingFeatures(
            f"input table lacks feature column(s) {', '.join(missing)}: the model takes "
            f"{', '.join(plan.names)}",
            details={"missing": missing},
        )
    wrong = []
    for feature in plan.features:
        found = schema.field(feature.name).type
        if feature.kind == "numeric" and not _is_numeric(found):
            wrong.append(f"{feature.name} (expected a number, found {found})")
        elif feature.kind == "text" and not _is_text(found):
            wrong.append(f"{feature.name} (expected a string, found {found})")
    if wrong:
        raise FeatureTypeError(
            f"feature column(s) with the wrong type: {'; '.join(wrong)}",
            details={"columns": [w.split(" ", 1)[0] for w in wrong]},
        )


def model_input(batch: pa.RecordBatch, plan: FeaturePlan) -> Any:
    """The model's input for one chunk: NULLs become NaN, columns in model order."""
    if plan.numeric:
        matrix = np.empty((batch.num_rows, len(plan.features)), dtype=np.float64)
        for j, name in enumerate(plan.names):
            column = batch.column(name)
            if not pa.types.is_floating(column.type) or column.type != pa.float64():
                column = column.cast(pa.float64())
            matrix[:, j] = column.to_numpy(zero_copy_only=False)
        if not plan.as_frame:
            return matrix
        import pandas as pd

        return pd.DataFrame(matrix, columns=plan.names, copy=False)
    # One block per column: consolidating them costs more than the model's own call on small
    # chunks (measured 1.0 -> 0.5 ms for one row, 2.7 -> 0.6 ms for 53k rows); same values.
    frame = batch.select(plan.names).to_pandas(split_blocks=True)
    for name in plan.names:
        if frame[name].dtype == object:  # sklearn imputers see NaN as missing, not None
            frame[name] = frame[name].where(frame[name].notna(), np.nan)
    return frame


def columns_input(columns: Mapping[str, Sequence[Any]], plan: FeaturePlan) -> Any:
    """The model's input from Python columns (online requests) by the rules of
    :func:`model_input`: None becomes NaN, columns in model order, a float matrix for a bare
    estimator. Built straight into numpy: for a few rows Arrow and ``to_pandas`` cost more than
    a Pipeline's whole call."""
    count = len(columns[plan.names[0]]) if plan.names else 0
    if plan.numeric:
        matrix = np.empty((count, len(plan.features)), dtype=np.float64)
        for j, name in enumerate(plan.names):
            matrix[:, j] = [np.nan if v is None else v for v in columns[name]]
        if not plan.as_frame:
            return matrix
        import pandas as pd

        return pd.DataFrame(matrix, columns=plan.names, copy=False)
    import pandas as pd

    text = _text_dtype()
    typed = text is not None  # every column built as the frame stores it: no inference left
    data: dict[str, Any] = {}
    for feature in plan.features:
        values = columns[feature.name]
        numbers = feature.kind == "numeric" or (
            feature.kind is None and all(v is None or type(v) is float for v in values)
        )
        if numbers:
            data[feature.name] = np.array(
                [np.nan if v is None else v for v in values], dtype=np.float64
            )
            continue
        # sklearn imputers see NaN as missing, not None
        array = np.array([np.nan if v is None else v for v in values], dtype=object)
        if text is not None and _strings(values):
            data[feature.name] = pd.arrays.StringArray(array, dtype=text)  # type: ignore[call-arg]
        else:
            typed = False
            data[feature.name] = array
    if typed:
        # What pd.DataFrame(data) gives, without its per-column inference and checks (most of
        # a 1-row request's own cost): the same columns, dtypes and values.
        return pd.DataFrame._from_arrays(  # type: ignore[attr-defined]
            list(data.values()),
            columns=_column_index(tuple(data)).view(),
            index=pd.RangeIndex(count),
            verify_integrity=False,
        )
    return pd.DataFrame(data, copy=False)


@functools.cache
def _text_dtype() -> Any:
    """The dtype a column of Python strings gets in :func:`columns_input`: pandas' ``str``
    (what pandas 3 infers, so ``select_dtypes("str")`` and ``dtype == "str"`` hold as in
    training), stored as Python objects rather than Arrow. For a few rows the Arrow storage
    only costs: building it, then converting it back to objects in every scikit-learn step
    that reads the column (bench/online.py: 0.3-0.8 ms of a 1-row request with the caches
    cold, as a server's are between requests; nothing measurable with them warm). None when
    pandas infers object columns (pandas 2): then :func:`columns_input` lets pandas infer every
    column."""
    import pandas as pd

    dtype = pd.DataFrame({"a": np.array(["a", np.nan], dtype=object)}).dtypes["a"]
    if isinstance(dtype, pd.StringDtype):
        return pd.StringDtype("python", na_value=dtype.na_value)
    return None


@functools.lru_cache(maxsize=256)
def _column_index(names: tuple[str, ...]) -> Any:
    """The columns' Index (each frame gets a view: a name set on one stays on it)."""
    import pandas as pd

    return pd.Index(list(names))


def _strings(values: Sequence[Any]) -> bool:
    """Strings and missing values, at least one string: what pandas stores as text."""
    return any(type(v) is str for v in values) and all(v is None or type(v) is str for v in values)


def default_id_columns(schema: pa.Schema, plan: FeaturePlan, reserved: Iterable[str]) -> list[str]:
    """Every input column that is not a feature (nor an output column name)."""
    skip = set(plan.names) | set(reserved)
    return [name for name in schema.names if name not in skip]


def _feature_of(item: Any) -> Feature:
    if isinstance(item, str):
        return Feature(item)
    if isinstance(item, Mapping) and isinstance(item.get("name"), str):
        dtype = item.get("dtype")
        return Feature(
            item["name"], kind_of_dtype(dtype), dtype if isinstance(dtype, str) else None
        )
    raise SchemaMismatch(f"metadata feature {item!r}: expected a name or {{name, dtype}}")


def _does_own_preprocessing(model: Any) -> bool:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if isinstance(model, ColumnTransformer):
        return True
    if isinstance(model, Pipeline):
        return any(_does_own_preprocessing(step) for _, step in model.steps) or (
            len(model.steps) > 1
        )
    return getattr(model, "single_input", True) is False  # ONNX with one input per column


def _is_numeric(t: pa.DataType) -> bool:
    return (
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_boolean(t)
        or (pa.types.is_decimal(t))
    )


def _is_text(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        return _is_text(t.value_type)
    return pa.types.is_string(t) or pa.types.is_large_string(t)
