"""Online prediction: JSON instances scored in milliseconds by the registry's verified models.

The service's ``POST /models/{name}/versions/{version}:predict`` runs
:class:`mlsys.online.server.OnlineServer`; :func:`predict_online` calls it from Python. See
``docs/online.md``.
"""

from mlsys.online.client import OnlinePrediction, predict_online

__all__ = ["OnlinePrediction", "predict_online"]
