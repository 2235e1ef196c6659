"""The body of an online prediction, checked once into typed columns.

Two JSON forms, as Vertex AI and MLflow accept them:

- ``{"instances": [{"feature": value, ...}, ...]}``: one object per row;
- ``{"columns": ["feature", ...], "data": [[value, ...], ...]}``: column names once, then rows.

:func:`parse_body` checks the shape (no model needed); :func:`check_instances` checks every value
against the version's features and gathers every problem into one error naming each bad field.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mlsys.errors import InvalidBody, InvalidInstances, TooManyInstances
from mlsys.predict.features import Feature, FeaturePlan

#: Problems spelled out in an error message; every one is in ``details``.
MESSAGE_PROBLEMS = 10
_ABSENT = object()


@dataclass(frozen=True)
class RawInstances:
    """A well-formed body: rows as objects, or rows as lists under ``columns``."""

    rows: Sequence[Any]
    columns: tuple[str, ...] | None = None  # None: each row is an object

    @property
    def count(self) -> int:
        return len(self.rows)


@dataclass(frozen=True)
class Instances:
    """Checked rows, one Python list per feature in the model's order (None: missing)."""

    columns: dict[str, list[Any]]
    count: int

    @staticmethod
    def concat(parts: Sequence[Instances]) -> Instances:
        """The rows of several requests as one (to score them in one model call)."""
        if len(parts) == 1:
            return parts[0]
        columns: dict[str, list[Any]] = {name: [] for name in parts[0].columns}
        for part in parts:
            for name, values in part.columns.items():
                columns[name].extend(values)
        return Instances(columns, sum(p.count for p in parts))


def parse_body(body: bytes, *, max_instances: int) -> RawInstances:
    """The rows of a JSON body, or :class:`InvalidBody` / :class:`TooManyInstances`."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidBody(f"the body is not JSON ({exc}): expected {_FORMS}") from None
    except RecursionError:
        raise InvalidBody(f"the body nests too deep: expected {_FORMS}") from None
    if not isinstance(data, dict):
        raise InvalidBody(f"the body is a JSON {_json_type(data)}: expected {_FORMS}")
    if "instances" in data:
        rows, columns = data["instances"], None
        _check_list(rows, "instances")
    elif "columns" in data or "data" in data:
        columns = _columns(data.get("columns"))
        rows = data.get("data")
        _check_list(rows, "data")
    else:
        keys = ", ".join(repr(k) for k in list(data)[:5]) or "none"
        raise InvalidBody(f"the body has no 'instances' (keys: {keys}): expected {_FORMS}")
    if not rows:
        raise InvalidBody("no instances to predict: send at least one")
    if len(rows) > max_instances:
        raise TooManyInstances(
            f"{len(rows)} instances in one request: at most {max_instances} are accepted "
            "(MLSYS_ONLINE_MAX_INSTANCES); split the request or use batch prediction (/predict)",
            details={"instances": len(rows), "limit": max_instances},
        )
    for i, row in enumerate(rows):
        if columns is None and not isinstance(row, dict):
            raise InvalidBody(
                f"instances[{i}] is a JSON {_json_type(row)}: expected an object "
                "{feature: value, ...}"
            )
        if columns is not None and (not isinstance(row, list) or len(row) != len(columns)):
            found = f"{len(row)} values" if isinstance(row, list) else f"a {_json_type(row)}"
            raise InvalidBody(
                f"data[{i}] has {found}: expected a list of {len(columns)} values, one per column"
            )
    return RawInstances(rows, columns)


def check_instances(raw: RawInstances, plan: FeaturePlan, *, refuse_extra: bool) -> Instances:
    """Every feature of every row checked (present, the right type); each problem named."""
    problems: list[dict[str, Any]] = []
    extra = _extra_fields(raw, plan)
    columns: dict[str, list[Any]] = {}
    for feature in plan.features:
        values = _values(raw, feature.name)
        columns[feature.name] = _check_column(feature, values, problems, extra)
    if refuse_extra:
        for name, rows in extra.items():
            problems.append(
                {"instance": rows[0], "field": name, "problem": "unknown field: not a feature"}
            )
    if problems:
        raise _invalid(problems, plan)
    return Instances(columns, raw.count)


_FORMS = '{"instances": [{feature: value, ...}]} or {"columns": [...], "data": [[...]]}'


def _check_list(value: Any, key: str) -> None:
    if not isinstance(value, list):
        raise InvalidBody(f"'{key}' is a JSON {_json_type(value)}: expected a list of rows")


def _columns(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise InvalidBody("'columns' must be a list of feature names (strings) beside 'data'")
    duplicated = sorted({c for c in value if value.count(c) > 1})
    if duplicated:
        raise InvalidBody(f"'columns' names {', '.join(duplicated)} more than once")
    return tuple(value)


def _values(raw: RawInstances, name: str) -> list[Any]:
    if raw.columns is None:
        return [row.get(name, _ABSENT) for row in raw.rows]
    if name not in raw.columns:
        return [_ABSENT] * raw.count
    j = raw.columns.index(name)
    return [row[j] for row in raw.rows]


def _extra_fields(raw: RawInstances, plan: FeaturePlan) -> dict[str, list[int]]:
    """Fields that are not features, with the rows that have them."""
    known = set(plan.names)
    if raw.columns is not None:
        return {c: [0] for c in raw.columns if c not in known}
    extra: dict[str, list[int]] = {}
    for i, row in enumerate(raw.rows):
        if len(row) != len(known) or not known.issuperset(row):
            for key in row:
                if key not in known:
                    extra.setdefault(key, []).append(i)
    return extra


def _check_column(
    feature: Feature, values: list[Any], problems: list[dict[str, Any]], extra: dict[str, Any]
) -> list[Any]:
    """The values made uniform (None for missing); problems appended per bad value."""
    checked: list[Any] = []
    seen: str | None = None  # the JSON type of a feature without a declared kind
    numeric, text = feature.kind == "numeric", feature.kind == "text"
    for i, value in enumerate(values):
        # fast paths for the usual values (this loop runs for every value of every row)
        if numeric and type(value) is float and math.isfinite(value):
            checked.append(value)
            continue
        if text and type(value) is str:
            checked.append(value)
            continue
        if value is _ABSENT:
            hint = _near(feature.name, extra)
            problems.append({"instance": i, "field": feature.name, "problem": f"missing{hint}"})
            checked.append(None)
            continue
        if value is None or (isinstance(value, float) and math.isnan(value)):
            checked.append(None)  # a missing value: the model's imputers decide
            continue
        found = _json_type(value)
        problem = _problem(feature, value, found)
        if problem is None and feature.kind is None:
            if seen is not None and found != seen:
                problem = f"found a {found}, but earlier instances have a {seen}: one type"
            seen = seen or found
        if problem is not None:
            problems.append({"instance": i, "field": feature.name, "problem": problem})
            checked.append(None)
        elif found == "number" or feature.kind == "numeric":
            checked.append(float(value))
        else:
            checked.append(value)
    return checked


def _problem(feature: Feature, value: Any, found: str) -> str | None:
    if found in ("object", "array"):
        return f"expected a single value, found {found} {_shown(value)}"
    if feature.kind == "numeric":
        if found == "boolean" and not (feature.dtype or "").startswith("bool"):
            return f"expected a number, found boolean {_shown(value)}"
        if found == "string":
            return f"expected a number, found string {_shown(value)}"
        if found == "number" and not _finite(value):
            return f"expected a finite number, found {_shown(value)}"
    if feature.kind == "text" and found != "string":
        return f"expected a string, found {found} {_shown(value)}"
    return None


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def _shown(value: Any) -> str:
    return json.dumps(value)[:40]


def _near(name: str, extra: dict[str, Any]) -> str:
    """`` (found 'age')`` when an unknown field differs only by case or separators."""

    def squash(text: str) -> str:
        return text.lower().replace("_", "").replace("-", "").replace(" ", "")

    near = [key for key in extra if squash(key) == squash(name)]
    return f" (found {near[0]!r})" if near else ""


def _invalid(problems: list[dict[str, Any]], plan: FeaturePlan) -> InvalidInstances:
    fields = sorted({p["field"] for p in problems})
    shown = "; ".join(
        f"instance {p['instance']} {p['field']!r}: {p['problem']}"
        for p in problems[:MESSAGE_PROBLEMS]
    )
    more = len(problems) - MESSAGE_PROBLEMS
    if more > 0:
        shown += f"; and {more} more (details.problems)"
    return InvalidInstances(
        f"{len(problems)} problem(s) in field(s) {', '.join(fields)}: {shown}. The model takes "
        f"{', '.join(_described(f) for f in plan.features)}",
        details={"fields": fields, "problems": problems[:1000]},
    )


def _described(feature: Feature) -> str:
    kind = {"numeric": "number", "text": "string"}.get(feature.kind or "", "any")
    return f"{feature.name} ({kind})"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"
