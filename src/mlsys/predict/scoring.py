"""Calling the model on one chunk: labels, and class probabilities from the same pass."""

from __future__ import annotations

from typing import Any

import numpy as np

from mlsys.errors import PredictionFailed
from mlsys.predict.onnx import OnnxClassifier


def _argmax_classifiers() -> tuple[type, ...]:
    """Classifiers whose ``predict`` is exactly ``classes_[argmax(predict_proba)]``: for these
    one ``predict_proba`` pass gives both answers (half the work of calling both)."""
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        RandomForestClassifier,
    )
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB
    from sklearn.tree import DecisionTreeClassifier, ExtraTreeClassifier

    return (
        RandomForestClassifier,
        ExtraTreesClassifier,
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        DecisionTreeClassifier,
        ExtraTreeClassifier,
        LogisticRegression,
        GaussianNB,
    )


def final_estimator(model: Any) -> Any:
    steps = getattr(model, "steps", None)
    return final_estimator(steps[-1][1]) if steps else model


class Scorer:
    """Scores chunks with ``model``; ``classes`` set means probabilities are wanted."""

    def __init__(self, model: Any, classes: np.ndarray | None) -> None:
        self.model = model
        self.classes = classes
        self.from_proba = classes is not None and isinstance(
            final_estimator(model), _argmax_classifiers()
        )

    def __call__(self, x: Any, first_row: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
        try:
            return self._score(x)
        except (ValueError, TypeError, KeyError) as exc:
            raise PredictionFailed(
                f"the model could not score rows {first_row}-{first_row + len(x) - 1}: {exc}"
            ) from exc

    def _score(self, x: Any) -> tuple[np.ndarray, np.ndarray | None]:
        if self.classes is None:
            return np.asarray(self.model.predict(x)), None
        if isinstance(self.model, OnnxClassifier):
            return self.model.predict_with_proba(x)
        proba = np.asarray(self.model.predict_proba(x))
        if self.from_proba:
            return self.classes.take(proba.argmax(axis=1)), proba
        return np.asarray(self.model.predict(x)), proba
