"""Package attributes imported on first use (PEP 562), so importing a package stays light: the
service starts (a Cloud Run cold start) and the CLI answers before numpy, pyarrow or a Google
client loads."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_attributes(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` serving each name of ``where`` from its submodule
    (``{"submit": "engines"}``: ``package.submit`` is ``package.engines.submit``)."""

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    return __getattr__
