"""Failures every command can meet, each turned into one line that names the fix.

Matched by class without importing the clients that raise them: a class whose module was never
imported cannot be the one raised, and ``mlsys --help`` stays free of Google imports.
"""

from __future__ import annotations

import socket
import sys
from urllib.parse import urlsplit

from mlsys.project import raw_setting

#: The emulators a command's clients would call, when the local stack is in use.
EMULATORS = ("BIGQUERY_EMULATOR_HOST", "STORAGE_EMULATOR_HOST")

CREDENTIALS = (
    "no Google credentials: start the local stack with `mlsys local up`, or log in to Google "
    "Cloud with `gcloud auth application-default login`"
)


class Unreachable(ConnectionError):
    """Nothing answered at ``url`` (the CLI's own HTTP reads)."""

    def __init__(self, url: str, reason: object) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url


#: (module, class, kind): kind ``credentials`` or ``unreachable``.
_KNOWN = (
    ("google.auth.exceptions", "DefaultCredentialsError", "credentials"),
    ("google.auth.exceptions", "RefreshError", "credentials"),
    ("mlsys.cli.failures", "Unreachable", "unreachable"),
    ("httpx", "ConnectError", "unreachable"),
    ("httpx", "ConnectTimeout", "unreachable"),
    ("requests.exceptions", "ConnectionError", "unreachable"),
    ("google.api_core.exceptions", "ServiceUnavailable", "unreachable"),
    ("google.api_core.exceptions", "RetryError", "unreachable"),
)


def check_emulators() -> None:
    """Raise :class:`Unreachable` at once if a configured emulator refuses connections.

    The Google clients retry a refused connection until their deadline (minutes): a local stack
    that stopped without `mlsys local down` would otherwise look like a hang.
    """
    for name in EMULATORS:
        url = raw_setting(name)
        if not url:
            continue
        parts = urlsplit(url if "://" in url else f"http://{url}")
        try:
            socket.create_connection((parts.hostname or "", parts.port or 80), timeout=2).close()
        except OSError as exc:
            raise Unreachable(f"{url} ({name})", exc.strerror or exc) from None


def known_failure(exc: BaseException) -> str | None:
    """One line saying what to do about ``exc`` (or what caused it), or None if unknown."""
    for cause in _chain(exc):
        for module_name, class_name, kind in _KNOWN:
            cls = getattr(sys.modules.get(module_name), class_name, None)
            if isinstance(cls, type) and isinstance(cause, cls):
                return CREDENTIALS if kind == "credentials" else _unreachable(cause)
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it was raised from or during (a library often wraps the cause)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _unreachable(exc: BaseException) -> str:
    where = _url(exc)
    what = f"cannot reach {where}" if where else f"cannot reach the endpoint ({exc})"
    if raw_setting("STORAGE_EMULATOR_HOST") or _is_loopback(where):
        return f"{what}: the local stack is not running; start it with `mlsys local up`"
    return f"{what}: check your network and MLSYS_SERVICE_URL"


def _url(exc: BaseException) -> str:
    """The URL a connection error was for, when the exception knows it."""
    if isinstance(exc, Unreachable):
        return exc.url
    try:
        request = getattr(exc, "request", None)
    except RuntimeError:  # httpx raises when an error carries no request
        return ""
    url = getattr(request, "url", None)
    return str(url) if url else ""


def _is_loopback(url: str) -> bool:
    return any(host in url for host in ("://127.0.0.1", "://localhost", "://[::1]"))
