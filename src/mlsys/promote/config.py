"""``promotion.yaml``: the metric thresholds and smoke-test sample of each model.

```yaml
titanic-survival:
  metrics:
    accuracy: ">= 0.78"      # operator and number; >=, >, <=, <, ==
  sample_table: mlsys-local.mlsys_dev.titanic   # optional; default: metadata training_data
  sample_rows: 100                               # optional; default 100
```
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlsys.errors import ConfigError
from mlsys.settings import find_project_root, get_settings

DEFAULT_SAMPLE_ROWS = 100
_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
}
_THRESHOLD_RE = re.compile(r"^\s*(>=|<=|==|>|<)\s*(-?[0-9]+(?:\.[0-9]+)?(?:[eE]-?[0-9]+)?)\s*$")


@dataclass(frozen=True)
class Threshold:
    """``metric OP value``, e.g. ``accuracy >= 0.78``."""

    metric: str
    op: str
    value: float

    def check(self, actual: float) -> bool:
        return _OPERATORS[self.op](actual, self.value)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"


@dataclass(frozen=True)
class ModelPolicy:
    """What one model must meet to be promoted."""

    thresholds: list[Threshold] = field(default_factory=list)
    sample_table: str | None = None
    sample_rows: int = DEFAULT_SAMPLE_ROWS


@dataclass(frozen=True)
class PromotionConfig:
    """The parsed promotion.yaml; ``source`` names it in messages."""

    models: dict[str, ModelPolicy]
    source: str = "promotion.yaml"

    def policy(self, model_name: str) -> ModelPolicy | None:
        return self.models.get(model_name)


def parse_threshold(metric: str, spec: Any) -> Threshold:
    """``">= 0.78"`` (or a bare number, meaning ``>=``) -> a :class:`Threshold`."""
    if isinstance(spec, bool):
        raise ConfigError(f"threshold of {metric!r} is {spec!r}: expected e.g. '>= 0.78'")
    if isinstance(spec, int | float):
        return Threshold(metric, ">=", float(spec))
    match = _THRESHOLD_RE.match(str(spec))
    if not match:
        raise ConfigError(
            f"threshold of {metric!r} is {spec!r}: expected an operator (>=, >, <=, <, ==) "
            "and a number, e.g. '>= 0.78'"
        )
    return Threshold(metric, match.group(1), float(match.group(2)))


def parse_config(data: Any, source: str = "promotion.yaml") -> PromotionConfig:
    """Validate the YAML document of a promotion config."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source} must map model names to policies, found {type(data).__name__}")
    models = {}
    for name, body in data.items():
        if not isinstance(body, dict):
            raise ConfigError(f"{source}: {name!r} must be a mapping with 'metrics'")
        unknown = set(body) - {"metrics", "sample_table", "sample_rows"}
        if unknown:
            raise ConfigError(
                f"{source}: {name!r} has unknown keys {sorted(unknown)}: expected metrics, "
                "sample_table, sample_rows"
            )
        metrics = body.get("metrics") or {}
        if not isinstance(metrics, dict):
            raise ConfigError(f"{source}: {name}.metrics must map metric names to thresholds")
        rows = body.get("sample_rows", DEFAULT_SAMPLE_ROWS)
        if not isinstance(rows, int) or isinstance(rows, bool) or rows < 1:
            raise ConfigError(f"{source}: {name}.sample_rows must be a positive integer")
        models[str(name)] = ModelPolicy(
            thresholds=[parse_threshold(str(m), s) for m, s in metrics.items()],
            sample_table=body.get("sample_table"),
            sample_rows=rows,
        )
    return PromotionConfig(models, source)


def load_config(path: str | Path | None = None) -> PromotionConfig:
    """Read ``path``, else ``MLSYS_PROMOTION_CONFIG`` relative to the project root."""
    target = Path(path or get_settings().promotion_config)
    if not target.is_absolute():
        target = find_project_root() / target
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"promotion config {target} does not exist: set MLSYS_PROMOTION_CONFIG or create it"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{target} is not valid YAML: {exc}") from None
    return parse_config(data, str(target))
