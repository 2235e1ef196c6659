"""The CLI's read commands through the service's own HTTP API (as gcloud and mlflow do).

Importing the BigQuery client takes seconds; a GET to the service that already holds it takes
milliseconds (``bench/cli.py``). The service is ``MLSYS_SERVICE_URL`` (the environment, else
``.mlsys/local.env`` written by ``mlsys local up``, else ``.env``); without one, or with
``--direct``, commands read BigQuery through the library. On Google Cloud the service is a
private Cloud Run service: each call carries an identity token for its URL.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from mlsys.project import raw_setting

TIMEOUT_S = 30.0
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def service_url(direct: bool = False) -> str | None:
    """The service to read through, or None for the library path."""
    if direct:
        return None
    url = raw_setting("MLSYS_SERVICE_URL")
    return url.rstrip("/") if url else None


def default_env(env: str | None) -> str:
    """``env``, else ``MLSYS_ENV``, else dev (validated by whoever reads it)."""
    return env or raw_setting("MLSYS_ENV") or "dev"


def default_bucket(env: str) -> str:
    """The env's model bucket as ``Settings.bucket_for`` names it."""
    return raw_setting(f"GCS_BUCKET_MODELS_{env.upper()}") or f"mlsys-models-{env}"


def get_json(url: str, path: str, **params: Any) -> Any:
    """``GET url/path?params`` as JSON; the service's error body raised as its mlsys error."""
    import httpx

    from mlsys.errors import MlsysError, error_from_body

    query = {k: v for k, v in params.items() if v is not None}
    response = httpx.get(
        f"{url}/{path}", params=query, headers=_auth_headers(url), timeout=TIMEOUT_S
    )
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code >= 400:
        raise error_from_body(data if isinstance(data, dict) else {}, response.status_code)
    if data is None:
        raise MlsysError(f"{url}/{path} answered {response.status_code} without JSON")
    return data


def quoted(name: str) -> str:
    """A path segment (model names are validated by the service)."""
    return quote(name, safe="")


def _auth_headers(url: str) -> dict[str, str]:
    """An identity token for Cloud Run; nothing on the local stack (a loopback URL)."""
    host = urlsplit(url).hostname or ""
    if host in _LOOPBACK or raw_setting("STORAGE_EMULATOR_HOST"):
        return {}
    return {"Authorization": f"Bearer {identity_token(url)}"}


def identity_token(audience: str) -> str:
    """A Google-signed identity token: a service account's for ``audience`` (metadata server,
    key file), else a person's own from ``gcloud auth application-default login``."""
    import google.auth
    import google.auth.transport.requests
    from google.auth.exceptions import DefaultCredentialsError
    from google.oauth2 import id_token

    request = google.auth.transport.requests.Request()
    try:
        return str(id_token.fetch_id_token(request, audience))
    except DefaultCredentialsError:
        # User credentials cannot mint a token for an audience; Cloud Run accepts their own
        # identity token (what `gcloud auth print-identity-token` prints) from an invoker.
        credentials, _ = google.auth.default(scopes=["openid", "email"])
        credentials.refresh(request)
        token = getattr(credentials, "id_token", None)
        if not token:
            raise
        return str(token)
