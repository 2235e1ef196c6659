"""A real (picklable) model that takes its time per chunk, so a task can be killed mid-way."""

from __future__ import annotations

import time
from typing import Any

import numpy as np


class SlowModel:
    def __init__(self, model: Any, seconds: float) -> None:
        self.model = model
        self.seconds = seconds
        self.classes_ = model.classes_
        self.feature_names_in_ = model.feature_names_in_

    def predict_proba(self, x: Any) -> np.ndarray:
        time.sleep(self.seconds)
        return self.model.predict_proba(x)

    def predict(self, x: Any) -> np.ndarray:
        return self.model.predict(x)
