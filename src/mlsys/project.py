"""Where a project's files are, and its settings as plain text (no pydantic).

:mod:`mlsys.settings` builds the one validated ``Settings`` from the same sources. The CLI's
read commands use :func:`raw_setting` instead: importing pydantic-settings costs more than the
whole command should take (``bench/cli.py``), and they need only a URL and an env name.
"""

from __future__ import annotations

import os
from pathlib import Path

LOCAL_DIR_NAME = ".mlsys"
LOCAL_ENV_NAME = "local.env"


def find_project_root(start: Path | None = None) -> Path:
    """The nearest folder holding ``pyproject.toml`` or ``.mlsys``, else the working directory."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / LOCAL_DIR_NAME).is_dir() or (folder / "pyproject.toml").is_file():
            return folder
    return here


def local_env_file(root: Path | None = None) -> Path:
    """Where ``mlsys local up`` writes the endpoints of the local stack."""
    return (root or find_project_root()) / LOCAL_DIR_NAME / LOCAL_ENV_NAME


def read_env_file(path: Path) -> dict[str, str]:
    """The ``KEY=value`` lines of a dotenv file (comments, ``export`` and quotes allowed)."""
    found: dict[str, str] = {}
    try:
        text = path.read_text()
    except OSError:
        return found
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.removeprefix("export ").split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        found[key.strip()] = value
    return found


def raw_setting(name: str) -> str | None:
    """``name`` as ``Settings`` reads it: the environment, then ``.mlsys/local.env``, then
    ``.env`` (empty values ignored), unvalidated."""
    value = os.environ.get(name)
    if value:
        return value
    root = find_project_root()
    for path in (local_env_file(root), root / ".env"):
        value = read_env_file(path).get(name)
        if value:
            return value
    return None
