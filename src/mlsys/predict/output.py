"""The output table: id columns, ``prediction``, class probabilities and provenance columns."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from mlsys.errors import InvalidInput, OutputSchemaMismatch, UnsupportedFormat
from mlsys.identifiers import TableRef, check_column, safe_column_name

_SAME_TYPE = {"INT64": "INTEGER", "FLOAT64": "FLOAT", "BOOL": "BOOLEAN"}

from mlsys.predict.columns import PREDICTION, PROBABILITY, RESERVED  # noqa: E402


@dataclass(frozen=True)
class OutputPlan:
    """The schema of the output rows and how to fill the columns that are the same per job."""

    schema: pa.Schema
    id_columns: tuple[str, ...]
    probability_columns: tuple[str, ...]
    classes: tuple[Any, ...] | None
    model_name: str
    model_version: int
    job_id: str
    timestamp: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def batch(
        self, ids: pa.RecordBatch, prediction: np.ndarray, proba: np.ndarray | None
    ) -> pa.RecordBatch:
        """One output chunk from the id columns and the model's answers for the same rows."""
        n = ids.num_rows
        columns: list[pa.Array] = [ids.column(name) for name in self.id_columns]
        columns.append(_prediction_array(prediction, self.schema.field(PREDICTION).type))
        if self.probability_columns and proba is not None:
            if len(self.probability_columns) == 1:  # binary: the positive class
                columns.append(pa.array(proba[:, 1], type=pa.float64()))
            else:
                columns += [pa.array(proba[:, j], pa.float64()) for j in range(proba.shape[1])]
        ts = pa.array(np.full(n, np.datetime64(self.timestamp.replace(tzinfo=None), "us")))
        columns += [
            ts.cast(pa.timestamp("us", tz="UTC")),
            pa.DictionaryArray.from_arrays(np.zeros(n, np.int8), [self.model_name]).cast(
                pa.string()
            ),
            pa.array(np.full(n, self.model_version, dtype=np.int64)),
            pa.DictionaryArray.from_arrays(np.zeros(n, np.int8), [self.job_id]).cast(pa.string()),
        ]
        return pa.RecordBatch.from_arrays(columns, schema=self.schema)


def check_id_columns(names: Sequence[str]) -> list[str]:
    """Id columns as a request names them: valid, each once, none an output column."""
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise InvalidInput(f"id_columns {names!r}: expected a list of column names")
    for name in names:
        check_column(name)
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        raise InvalidInput(
            f"id column(s) {', '.join(repeated)} named more than once: each column is copied to "
            "the output once; list it once"
        )
    clash = [n for n in names if n in RESERVED]
    if clash:
        raise InvalidInput(
            f"id column {clash[0]!r} clashes with an output column ({', '.join(RESERVED)})"
        )
    return list(names)


def plan_output(
    *,
    input_schema: pa.Schema,
    id_columns: Sequence[str],
    model: Any,
    model_name: str,
    model_version: int,
    job_id: str,
) -> OutputPlan:
    """The output schema for ``model`` with ``id_columns`` copied from ``input_schema``."""
    fields = []
    for name in check_id_columns(id_columns):
        if name not in input_schema.names:
            raise InvalidInput(
                f"id column {name!r} is not in the input table (columns: "
                f"{', '.join(input_schema.names)})"
            )
        fields.append(input_schema.field(name).remove_metadata())
    classes = classes_of(model)
    prob_columns = probability_columns(classes) if classes is not None else ()
    clash = set(prob_columns) & set(id_columns)
    if clash:
        raise InvalidInput(
            f"id column(s) {', '.join(sorted(clash))} clash with probability columns"
        )
    fields.append(pa.field(PREDICTION, prediction_type(model, classes)))
    fields += [pa.field(name, pa.float64()) for name in prob_columns]
    fields += [
        pa.field("prediction_timestamp", pa.timestamp("us", tz="UTC")),
        pa.field("model_name", pa.string()),
        pa.field("model_version", pa.int64()),
        pa.field("job_id", pa.string()),
    ]
    return OutputPlan(
        schema=pa.schema(fields),
        id_columns=tuple(id_columns),
        probability_columns=prob_columns,
        classes=tuple(classes.tolist()) if classes is not None else None,
        model_name=model_name,
        model_version=model_version,
        job_id=job_id,
    )


def classes_of(model: Any) -> np.ndarray | None:
    """The class labels of a classifier that has ``predict_proba``, else None."""
    if not hasattr(model, "predict_proba"):
        return None
    classes = getattr(model, "classes_", None)
    if classes is None:
        return None
    classes = np.asarray(classes)
    if classes.ndim != 1:
        raise UnsupportedFormat("multi-output classifiers are not supported: one target expected")
    return classes


def probability_columns(classes: np.ndarray) -> tuple[str, ...]:
    """``probability`` for a binary model, else ``probability_<class>`` (safe, unique) each."""
    if len(classes) == 2:
        return (PROBABILITY,)
    names: list[str] = []
    for label in classes.tolist():
        name = safe_column_name(label, prefix=f"{PROBABILITY}_")
        base, k = name, 2
        while name in names:
            name, k = f"{base}_{k}", k + 1
        names.append(name)
    return tuple(names)


def prediction_type(model: Any, classes: np.ndarray | None) -> pa.DataType:
    """The Arrow type of ``prediction``: the classes' type for a classifier, else float."""
    if classes is None:
        classes = getattr(model, "classes_", None)
    if classes is None:
        return pa.float64()
    kind = np.asarray(classes).dtype.kind
    return {"b": pa.bool_(), "i": pa.int64(), "u": pa.int64(), "f": pa.float64()}.get(
        kind, pa.string()
    )


def _prediction_array(values: np.ndarray, arrow_type: pa.DataType) -> pa.Array:
    values = np.asarray(values)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise UnsupportedFormat(
            f"the model returned predictions of shape {values.shape}: one value per row expected"
        )
    if pa.types.is_string(arrow_type):
        return pa.array([None if v is None else str(v) for v in values.tolist()], pa.string())
    return pa.array(values).cast(arrow_type)


def check_output_schema(output: TableRef, existing: list, wanted: list) -> None:
    """An existing output table must have every output column with the same type."""
    have = {f.name: f for f in existing}
    problems = []
    for want in wanted:
        found = have.get(want.name)
        if found is None:
            problems.append(f"{want.name} is missing (expected {want.field_type})")
        elif _norm(found.field_type) != _norm(want.field_type) or found.mode == "REPEATED":
            problems.append(f"{want.name} is {found.field_type}, expected {want.field_type}")
    names = {f.name for f in wanted}
    problems += [
        f"{f.name} is REQUIRED but not produced"
        for f in existing
        if f.name not in names and f.mode == "REQUIRED"
    ]
    if problems:
        raise OutputSchemaMismatch(
            f"output table {output} has an incompatible schema: {'; '.join(problems)}",
            details={"problems": problems},
        )


def _norm(kind: str) -> str:
    kind = kind.upper()
    return _SAME_TYPE.get(kind, kind)
