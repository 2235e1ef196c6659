"""Read the Terraform of ``infra/`` with python-hcl2 and evaluate the expressions it uses.

The local stack derives its IAM policy and its Cloud Run Job settings from the same files
Terraform applies, so a grant removed there is a call refused here. python-hcl2 parses the
files; expressions stay strings (``"${local.promotes_into ? 1 : 0}"``), which :class:`Evaluator`
evaluates for one environment: variables (module-call arguments, else defaults), locals,
``count``/``for_each``, conditionals, ``==``/``!=``/``!``/``&&``/``||`` and the functions
``toset``, ``tolist``, ``coalesce``, ``upper``, ``lower``. What it cannot know (another
resource's attribute, a required variable with no value) stays an :class:`Unknown` naming the
expression, so callers can map references such as ``google_storage_bucket.models.name``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_INTERPOLATION = re.compile(r"\$\{((?:[^{}\"]|\"(?:[^\"\\]|\\.)*\"|\{[^{}]*\})*)\}")


class TerraformError(ValueError):
    """The Terraform uses an expression the local stack cannot evaluate."""


@dataclass(frozen=True)
class Unknown:
    """A value only Terraform knows at apply time (a resource attribute, a missing variable)."""

    text: str

    def __str__(self) -> str:
        return "${" + self.text + "}"


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
        return self._merged("variable")

    def modules(self) -> dict[str, dict[str, Any]]:
        return self._merged("module")

    def locals(self) -> dict[str, Any]:
        return self._merged("locals")

    def _merged(self, kind: str) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for block in self.blocks(kind):
            found.update(block)
        return found

    def resolve(self, value: Any) -> Any:
        """Follow a bare ``${local.x}`` reference; anything else is returned as is."""
        if isinstance(value, str) and (match := re.match(r"^\$\{local\.(\w+)\}$", value)):
            return self.resolve(self.locals()[match.group(1)])
        return value


def load(folder: Path) -> Config:
    """Parse every ``*.tf`` file of ``folder`` (not recursive)."""
    import hcl2
    from hcl2 import SerializationOptions

    options = SerializationOptions(strip_string_quotes=True, explicit_blocks=False)
    config = Config(folder=folder)
    for path in sorted(folder.glob("*.tf")):
        with path.open(encoding="utf-8") as handle:
            config.files[path.name] = hcl2.load(handle, serialization_options=options)
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


class Evaluator:
    """Evaluates a module's expressions for one set of variables (one environment)."""

    def __init__(self, config: Config, variables: dict[str, Any]) -> None:
        self.config = config
        declared = config.variables()
        self.variables = {
            name: (
                variables[name]
                if name in variables
                else body.get("default", Unknown(f"var.{name}"))
            )
            for name, body in declared.items()
        }
        self.variables.update({k: v for k, v in variables.items() if k not in declared})
        self._locals = config.locals()
        self.each: tuple[Any, Any] | None = None

    def value(self, node: Any) -> Any:
        """Evaluate a parsed value: dicts and lists item by item, strings as templates."""
        if isinstance(node, dict):
            return {k: self.value(v) for k, v in node.items() if k != "__comments__"}
        if isinstance(node, list):
            return [self.value(v) for v in node]
        if isinstance(node, str):
            return self.template(node)
        return node

    def template(self, text: str) -> Any:
        """A string with ``${...}``: one interpolation is its value, else they are joined."""
        whole = _INTERPOLATION.fullmatch(text)
        if whole:
            return self.expression(whole.group(1))
        return _INTERPOLATION.sub(lambda m: _text(self.expression(m.group(1))), text)

    def expression(self, source: str) -> Any:
        from mlsys.local.terraform_expressions import Parser

        """The value of one expression; one outside the subset is :class:`Unknown` (callers
        that need the value, such as ``count``, refuse it then)."""
        try:
            return Parser(source, self).parse()
        except TerraformError:
            return Unknown(source)

    def instances(self, body: dict[str, Any]) -> list[tuple[Any, Any] | None]:
        """One entry per instance a resource block makes: ``count`` and ``for_each`` applied
        (``(key, value)`` for ``for_each``, None otherwise)."""
        if "count" in body:
            count = self.value(body["count"])
            if not isinstance(count, int | float) or isinstance(count, bool):
                raise TerraformError(f"cannot evaluate count = {body['count']!r}")
            return [None] * int(count)
        if "for_each" in body:
            items = self.value(body["for_each"])
            if isinstance(items, dict):
                return list(items.items())
            if isinstance(items, list | tuple | set | frozenset):
                return [(item, item) for item in items]
            raise TerraformError(f"cannot evaluate for_each = {body['for_each']!r}")
        return [None]

    def reference(self, parts: list[str]) -> Any:
        head = parts[0]
        if head == "var" and len(parts) >= 2:
            return _walk(self.variables.get(parts[1], Unknown(".".join(parts))), parts[2:])
        if head == "local" and len(parts) >= 2 and parts[1] in self._locals:
            return _walk(self.value(self._locals[parts[1]]), parts[2:])
        if head == "each" and self.each is not None and len(parts) == 2:
            return self.each[0] if parts[1] == "key" else self.each[1]
        return Unknown(".".join(parts))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _walk(value: Any, rest: list[str]) -> Any:
    for part in rest:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return Unknown(f"{value}.{part}")
    return value
