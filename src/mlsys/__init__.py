"""mlsys."""

from mlsys.online.client import OnlinePrediction, predict_online

__all__ = ["OnlinePrediction", "predict_online"]
