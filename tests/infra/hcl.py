"""Load a Terraform folder with python-hcl2 and answer structural questions about it.

python-hcl2 turns every block type into a list; this module merges the files of one folder
into a single ``Config`` so tests can ask for "the resources of type X" without caring which
``.tf`` file holds them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
from hcl2 import SerializationOptions

_OPTIONS = SerializationOptions(strip_string_quotes=True, explicit_blocks=False)
_LOCAL_REF = re.compile(r"^\$\{local\.([A-Za-z0-9_]+)\}$")


@dataclass
class Config:
    """The merged blocks of every ``*.tf`` file in one Terraform folder."""

    folder: Path
    files: dict[str, dict[str, Any]] = field(default_factory=dict)

    def blocks(self, kind: str) -> Iterator[dict[str, Any]]:
        for parsed in self.files.values():
            yield from parsed.get(kind, [])

    def resources(self, rtype: str) -> dict[str, dict[str, Any]]:
        """Resources of one type by name (``{"models": {...}}``)."""
        found: dict[str, dict[str, Any]] = {}
        for block in self.blocks("resource"):
            found.update(block.get(rtype, {}))
        return found

    def all_resources(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for block in self.blocks("resource"):
            for rtype, named in block.items():
                for name, body in named.items():
                    yield rtype, name, body

    def variables(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for block in self.blocks("variable"):
            found.update(block)
        return found

    def modules(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for block in self.blocks("module"):
            found.update(block)
        return found

    def locals(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for block in self.blocks("locals"):
            found.update(block)
        return found

    def resolve(self, value: Any) -> Any:
        """Follow a bare ``${local.x}`` reference; anything else is returned as is."""
        if isinstance(value, str) and (match := _LOCAL_REF.match(value)):
            return self.resolve(self.locals()[match.group(1)])
        return value


def load(folder: Path) -> Config:
    """Parse every ``*.tf`` file of ``folder`` (not recursive)."""
    config = Config(folder=folder)
    for path in sorted(folder.glob("*.tf")):
        with path.open(encoding="utf-8") as handle:
            config.files[path.name] = hcl2.load(handle, serialization_options=_OPTIONS)
    return config


def strings(node: Any, *, skip: frozenset[str] = frozenset()) -> Iterator[tuple[str, str]]:
    """Every string in a parsed tree as ``(dotted path, value)``, minus keys in ``skip``."""
    stack: list[tuple[str, Any]] = [("", node)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, dict):
            stack.extend((f"{path}.{k}", v) for k, v in item.items() if k not in skip)
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", v) for i, v in enumerate(item))
        elif isinstance(item, str):
            yield path, item
