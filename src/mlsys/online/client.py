"""``mlsys.predict_online``: call the service's online prediction from Python.

The service is ``MLSYS_SERVICE_URL``. On Google Cloud it is a private Cloud Run service: every
call carries a Google-signed identity token whose audience is that URL (the caller needs
``roles/run.invoker``, Terraform's ``service_invokers``); the token is fetched with
:func:`google.oauth2.id_token.fetch_id_token` from Application Default Credentials (a service
account: the metadata server on Google Cloud, or a key file) and reused until shortly before it
expires. The local stack (emulators, or a loopback URL) needs no token.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from mlsys.errors import ConfigError, MlsysError
from mlsys.errors import error_from_body as error_from
from mlsys.settings import Settings, get_settings

#: Seconds before its expiry at which a cached identity token is replaced.
TOKEN_MARGIN_S = 300
TIMEOUT_S = 30.0
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_tokens: dict[str, tuple[str, float]] = {}
_tokens_lock = threading.Lock()


@dataclass(frozen=True)
class OnlinePrediction:
    """The service's answer: one prediction per instance, class probabilities if any."""

    predictions: list[Any]
    probabilities: list[list[float]] | None
    classes: list[Any] | None
    model_version: int


def predict_online(
    name: str,
    instances: Sequence[Mapping[str, Any]] | Any,
    version: str = "champion",
    env: str | None = None,
    *,
    timeout: float = TIMEOUT_S,
) -> OnlinePrediction:
    """Predict ``instances`` (dicts, or a pandas DataFrame) with ``name`` at ``version``.

    Raises the service's error as its mlsys error class (``InvalidInstances``, ...).
    """
    settings = get_settings()
    url = settings.service_url
    if not url:
        raise ConfigError(
            "MLSYS_SERVICE_URL is not set: set it to the service's URL (`mlsys local up` writes "
            "it to .mlsys/local.env)"
        )
    url = url.rstrip("/")
    path = f"models/{quote(name, safe='')}/versions/{quote(str(version), safe='')}:predict"
    response = _http().post(
        f"{url}/{path}",
        json=_body(instances),
        params={"env": env} if env else None,
        headers=auth_headers(settings, url),
        timeout=timeout,
    )
    data = _json(response)
    if response.status_code >= 400:
        raise error_from(data, response.status_code)
    return OnlinePrediction(
        predictions=data["predictions"],
        probabilities=data.get("probabilities"),
        classes=data.get("classes"),
        model_version=int(data["model_version"]),
    )


@functools.cache
def _http() -> Any:
    """One connection pool per process (keep-alive between calls)."""
    import httpx

    return httpx.Client()


def auth_headers(settings: Settings, audience: str) -> dict[str, str]:
    """``Authorization: Bearer <identity token>`` for Cloud Run; nothing on the local stack."""
    host = urlsplit(audience).hostname or ""
    if settings.uses_emulators or host in _LOOPBACK:
        return {}
    return {"Authorization": f"Bearer {_identity_token(audience)}"}


def _identity_token(audience: str) -> str:
    with _tokens_lock:
        cached = _tokens.get(audience)
        if cached is not None and cached[1] - TOKEN_MARGIN_S > time.time():
            return cached[0]
    import google.auth.transport.requests
    from google.auth import jwt
    from google.oauth2 import id_token

    token = id_token.fetch_id_token(google.auth.transport.requests.Request(), audience)
    expiry = float(jwt.decode(token, verify=False).get("exp", 0))
    with _tokens_lock:
        _tokens[audience] = (token, expiry)
    return str(token)


def _body(instances: Any) -> dict[str, Any]:
    """``{"instances": [...]}``, or the column form for a DataFrame (NaN sent as null)."""
    if hasattr(instances, "columns") and hasattr(instances, "itertuples"):
        rows = [[_plain(v) for v in row] for row in instances.itertuples(index=False, name=None)]
        return {"columns": [str(c) for c in instances.columns], "data": rows}
    return {"instances": [{k: _plain(v) for k, v in dict(row).items()} for row in instances]}


def _plain(value: Any) -> Any:
    """numpy scalars as Python ones; NaN and pandas' missing values as None."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is not None and type(value).__name__ in ("NAType", "NaTType"):
        return None
    return value


def _json(response: Any) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        text = response.text[:200]
        raise MlsysError(f"the service answered {response.status_code} without JSON: {text!r}")
    return data
