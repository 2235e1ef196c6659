"""mlsys: ship scikit-learn models on Google Cloud.

``mlsys.log_model(model, "name", X=..., ...)`` uploads a trained model as its next version
(:mod:`mlsys.upload`); everything else lives in the submodules.
"""

from __future__ import annotations

from mlsys._lazy import lazy_attributes

__all__ = ["OnlinePrediction", "log_model", "predict_online"]


#: ``log_model`` and the online client are imported on first use: ``import mlsys`` stays light
#: (the registry function imports the package too).
__getattr__ = lazy_attributes(
    __name__,
    {"log_model": "upload", "OnlinePrediction": "online.client", "predict_online": "online.client"},
)
