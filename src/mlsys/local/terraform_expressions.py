"""The expressions of ``infra/`` (the subset :class:`mlsys.local.terraform.Evaluator` reads):
a recursive-descent parser that evaluates as it parses."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from mlsys.local.terraform import TerraformError, Unknown

if TYPE_CHECKING:
    from mlsys.local.terraform import Evaluator

_TOKEN = re.compile(
    r"""\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<str>"(?:[^"\\]|\\.)*")|(?P<op>==|!=|&&|\|\||[?:!.,()\[\]])
    |(?P<name>[A-Za-z_][A-Za-z0-9_-]*))""",
    re.X,
)
_FUNCTIONS = {
    "toset": lambda items: sorted(set(items), key=str) if isinstance(items, list) else items,
    "tolist": lambda items: list(items) if isinstance(items, list) else items,
    "upper": lambda s: s.upper() if isinstance(s, str) else Unknown(f"upper({s})"),
    "lower": lambda s: s.lower() if isinstance(s, str) else Unknown(f"lower({s})"),
}


class Parser:
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
