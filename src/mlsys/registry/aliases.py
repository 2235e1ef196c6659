"""Version aliases (``champion``, ``previous``): filled in by the promotion work."""

from __future__ import annotations

from mlsys.errors import VersionNotFound


def resolve_alias(env: str, model_name: str, alias: str) -> int:
    """The version number an alias points at in ``env``."""
    raise VersionNotFound(
        f"unknown version {alias!r} for {model_name!r} in {env}: expected 'vN', 'N' or 'latest'"
    )
