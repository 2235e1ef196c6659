"""ONNX models behind the scikit-learn interface the pipeline uses (``predict``,
``predict_proba``, ``classes_``, ``feature_names_in_``), run by onnxruntime."""

from __future__ import annotations

from typing import Any

import numpy as np

from mlsys.errors import UnsupportedFormat

_LABEL_ATTRS = ("classlabels_strings", "classlabels_int64s", "classlabels_ints")
_NUMPY_OF_ONNX = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(string)": object,
    "tensor(bool)": np.bool_,
}


class OnnxRegressor:
    """An ONNX graph with one numeric output per row."""

    def __init__(self, session: Any, classes: np.ndarray | None = None) -> None:
        self.session = session
        self.inputs = session.get_inputs()
        self.output_names = [o.name for o in session.get_outputs()]
        self.single_input = len(self.inputs) == 1 and len(self.inputs[0].shape or []) == 2
        if not self.single_input:
            # one input per column: the input names are the feature names
            self.feature_names_in_ = np.array([i.name for i in self.inputs], dtype=object)
        if classes is not None:
            self.classes_ = classes

    def _feed(self, x: Any) -> dict[str, np.ndarray]:
        if self.single_input:
            (spec,) = self.inputs
            return {spec.name: np.asarray(x, dtype=_NUMPY_OF_ONNX.get(spec.type, np.float32))}
        feed: dict[str, np.ndarray] = {}
        for spec in self.inputs:
            column = np.asarray(x[spec.name]) if hasattr(x, "columns") else None
            if column is None:
                raise UnsupportedFormat("this ONNX model takes named columns: pass a DataFrame")
            dtype = _NUMPY_OF_ONNX.get(spec.type, np.float32)
            if dtype is object:  # ONNX strings cannot be missing: None and NaN become ""
                column = np.array(["" if _missing(v) else str(v) for v in column], dtype=object)
            feed[spec.name] = column.astype(dtype).reshape(-1, 1)
        return feed

    def _run(self, x: Any) -> list[Any]:
        return list(self.session.run(None, self._feed(x)))

    def predict(self, x: Any) -> np.ndarray:
        return np.asarray(self._run(x)[0]).reshape(len(x), -1)[:, 0]


class OnnxClassifier(OnnxRegressor):
    """An ONNX classifier: a label output and class probabilities (ZipMap or a tensor)."""

    def predict_proba(self, x: Any) -> np.ndarray:
        probabilities = self._run(x)[1]
        if isinstance(probabilities, list):  # ZipMap: one {label: p} per row
            return np.array(
                [[row[c] for c in self.classes_.tolist()] for row in probabilities],
                dtype=np.float64,
            )
        return np.asarray(probabilities, dtype=np.float64)

    def predict_with_proba(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        """Labels and probabilities from one run of the graph."""
        label, probabilities = self._run(x)[:2]
        if isinstance(probabilities, list):
            keys = self.classes_.tolist()
            proba = np.array([[row[c] for c in keys] for row in probabilities], dtype=np.float64)
        else:
            proba = np.asarray(probabilities, dtype=np.float64)
        return np.asarray(label), proba


def _missing(value: Any) -> bool:
    """None, NaN (pandas' missing string) or pandas.NA."""
    if value is None:
        return True
    try:
        return bool(value != value)
    except TypeError:  # pandas.NA refuses to be a bool
        return True


def load_onnx(data: bytes) -> OnnxRegressor:
    """An onnxruntime session over ``data`` wrapped as a classifier or a regressor."""
    import onnx
    import onnxruntime as ort

    try:
        graph = onnx.load_model_from_string(data).graph
        session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnx raises several unrelated types for bad bytes
        raise UnsupportedFormat(f"not a loadable ONNX model: {exc}") from None
    classes = _class_labels(graph)
    if classes is not None and len(session.get_outputs()) >= 2:
        return OnnxClassifier(session, classes)
    return OnnxRegressor(session)


def _class_labels(graph: Any) -> np.ndarray | None:
    import onnx

    for node in graph.node:
        for attr in node.attribute:
            if attr.name in _LABEL_ATTRS:
                values = onnx.helper.get_attribute_value(attr)
                if attr.name == "classlabels_strings":
                    return np.array([v.decode() for v in values], dtype=object)
                return np.array(list(values), dtype=np.int64)
    return None
