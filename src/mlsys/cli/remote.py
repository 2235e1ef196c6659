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

from mlsys.cli.failures import Unreachable
from mlsys.project import raw_setting

TIMEOUT_S = 30.0
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def service_url(direct: bool = False) -> str | None:
    """The service to read through, or None for the library path."""
    if direct:
        return None
    url = raw_setting("MLSYS_SERVICE_URL")
    if not url:
        return None
    if not url.startswith(("http://", "https://")):
        from mlsys.errors import ConfigError

        raise ConfigError(f"MLSYS_SERVICE_URL {url!r}: expected an http:// or https:// URL")
    return url.rstrip("/")


def default_env(env: str | None) -> str:
    """``env``, else ``MLSYS_ENV``, else dev (validated by whoever reads it)."""
    return env or raw_setting("MLSYS_ENV") or "dev"


def default_bucket(env: str) -> str:
    """The env's model bucket as ``Settings.bucket_for`` names it."""
    return raw_setting(f"GCS_BUCKET_MODELS_{env.upper()}") or f"mlsys-models-{env}"


def get_json(url: str, path: str, **params: Any) -> Any:
    """``GET url/path?params`` as JSON; the service's error body raised as its mlsys error."""
    # The standard library's client, not httpx: importing httpx (which pulls its own CLI's
    # click and rich parts) costs about 0.3 s here, a third of the whole budget (bench/cli.py).
    import json
    import urllib.error
    import urllib.request
    from urllib.parse import urlencode

    from mlsys.errors import MlsysError, error_from_body

    query = urlencode({k: v for k, v in params.items() if v is not None}, doseq=True)
    # The URL's scheme is checked in service_url (http or https only).
    target = f"{url}/{path}?{query}"
    request = urllib.request.Request(target, headers=_auth_headers(url))  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
            status, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    except urllib.error.URLError as exc:  # refused, unknown host, TLS: nothing answered
        raise Unreachable(f"{url}/{path}", exc.reason) from exc
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if status >= 400:
        raise error_from_body(data if isinstance(data, dict) else {}, status)
    if data is None:
        raise MlsysError(f"{url}/{path} answered {status} without JSON")
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
