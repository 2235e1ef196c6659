"""A real (picklable) model that fails on its second chunk: a job dying half-way."""

from __future__ import annotations

from typing import Any

import numpy as np


class FailsOnSecondChunk:
    def __init__(self, model: Any) -> None:
        self.model = model
        self.classes_ = model.classes_
        self.feature_names_in_ = model.feature_names_in_
        self.calls = 0

    def predict_proba(self, x: Any) -> np.ndarray:
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("worker lost half-way")
        return self.model.predict_proba(x)

    def predict(self, x: Any) -> np.ndarray:
        return self.model.predict(x)
