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

_TOKEN = re.compile(
    r"""\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<str>"(?:[^"\\]|\\.)*")|(?P<op>==|!=|&&|\|\||[?:!.,()\[\]])
    |(?P<name>[A-Za-z_][A-Za-z0-9_-]*))""",
    re.X,
)
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
        """The value of one expression; one outside the subset is :class:`Unknown` (callers
        that need the value, such as ``count``, refuse it then)."""
        try:
            return _Parser(source, self).parse()
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


_FUNCTIONS = {
    "toset": lambda items: sorted(set(items), key=str) if isinstance(items, list) else items,
    "tolist": lambda items: list(items) if isinstance(items, list) else items,
    "upper": lambda s: s.upper() if isinstance(s, str) else Unknown(f"upper({s})"),
    "lower": lambda s: s.lower() if isinstance(s, str) else Unknown(f"lower({s})"),
}


class _Parser:
    """Recursive descent over the expression subset infra/ uses (see the module docstring)."""

    def __init__(self, source: str, evaluator: Evaluator) -> None:
        self.source = source
        self.evaluator = evaluator
        self.tokens = self._tokenize(source)
        self.at = 0

    @staticmethod
    def _tokenize(source: str) -> list[tuple[str, str]]:
        tokens, pos = [], 0
        while pos < len(source):
            if source[pos:].strip() == "":
                break
            match = _TOKEN.match(source, pos)
            if not match or match.end() == pos:
                raise TerraformError(f"cannot evaluate ${{{source}}} (at {source[pos:]!r})")
            kind = match.lastgroup or ""
            tokens.append((kind, match.group(kind)))
            pos = match.end()
        return tokens

    def parse(self) -> Any:
        value = self._conditional()
        if self.at != len(self.tokens):
            raise TerraformError(f"cannot evaluate ${{{self.source}}}: unexpected {self._peek()}")
        return value

    def _peek(self) -> str:
        return self.tokens[self.at][1] if self.at < len(self.tokens) else ""

    def _take(self, expected: str | None = None) -> tuple[str, str]:
        if self.at >= len(self.tokens) or (expected and self.tokens[self.at][1] != expected):
            raise TerraformError(f"cannot evaluate ${{{self.source}}}: expected {expected!r}")
        self.at += 1
        return self.tokens[self.at - 1]

    def _conditional(self) -> Any:
        condition = self._binary(("||",), self._and)
        if self._peek() != "?":
            return condition
        self._take("?")
        yes = self._conditional()
        self._take(":")
        no = self._conditional()
        if isinstance(condition, Unknown):
            return Unknown(self.source)
        return yes if condition else no

    def _and(self) -> Any:
        return self._binary(("&&",), self._compare)

    def _compare(self) -> Any:
        return self._binary(("==", "!="), self._unary)

    def _binary(self, ops: tuple[str, ...], operand: Any) -> Any:
        left = operand()
        while self._peek() in ops:
            op = self._take()[1]
            right = operand()
            if isinstance(left, Unknown) or isinstance(right, Unknown):
                left = Unknown(self.source)
            elif op == "==":
                left = left == right
            elif op == "!=":
                left = left != right
            elif op == "&&":
                left = bool(left) and bool(right)
            else:
                left = bool(left) or bool(right)
        return left

    def _unary(self) -> Any:
        if self._peek() == "!":
            self._take("!")
            value = self._unary()
            return value if isinstance(value, Unknown) else not value
        return self._primary()

    def _primary(self) -> Any:
        kind, text = self._take()
        if kind == "num":
            return float(text) if "." in text else int(text)
        if kind == "str":
            return self.evaluator.template(bytes(text[1:-1], "utf-8").decode("unicode_escape"))
        if text == "(":
            value = self._conditional()
            self._take(")")
            return value
        if text == "[":
            items = []
            while self._peek() != "]":
                items.append(self._conditional())
                if self._peek() == ",":
                    self._take(",")
            self._take("]")
            return items
        if kind != "name":
            raise TerraformError(f"cannot evaluate ${{{self.source}}}: unexpected {text!r}")
        if text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[text]
        if self._peek() == "(":
            return self._call(text)
        return self.evaluator.reference(self._path(text))

    def _path(self, head: str) -> list[str]:
        parts = [head]
        while self._peek() in (".", "["):
            if self._take()[1] == ".":
                parts.append(self._take()[1])
            else:
                parts.append(self._take()[1])
                self._take("]")
        return parts

    def _call(self, name: str) -> Any:
        self._take("(")
        args = []
        while self._peek() != ")":
            args.append(self._conditional())
            if self._peek() == ",":
                self._take(",")
        self._take(")")
        if name == "coalesce":
            known = [a for a in args if a is not None and a != ""]
            return known[0] if known else None
        if name not in _FUNCTIONS or len(args) != 1:
            return Unknown(f"{name}(...)")
        if isinstance(args[0], Unknown):
            return Unknown(f"{name}({args[0].text})")
        return _FUNCTIONS[name](args[0])
