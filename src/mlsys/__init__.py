"""mlsys: ship scikit-learn models on Google Cloud.

``mlsys.log_model(model, "name", X=..., ...)`` uploads a trained model as its next version
(:mod:`mlsys.upload`); everything else lives in the submodules.
"""

from __future__ import annotations

from typing import Any

__all__ = ["OnlinePrediction", "log_model", "predict_online"]


def __getattr__(name: str) -> Any:
    """Import ``log_model`` on first use: ``import mlsys`` stays light (the registry function
    imports the package too)."""
    if name == "log_model":
        from mlsys.upload import log_model

        return log_model
    if name in ("OnlinePrediction", "predict_online"):
        from mlsys.online import client

        return getattr(client, name)
    raise AttributeError(f"module 'mlsys' has no attribute {name!r}")
