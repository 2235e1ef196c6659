"""``promotion.yaml``: the metric thresholds and smoke-test sample of each model.

```yaml
titanic-survival:
  metrics:
    accuracy: ">= 0.78"      # operator and number; >=, >, <=, <, ==
  sample_table: mlsys-local.mlsys_dev.titanic   # optional; default: metadata training_data
  sample_rows: 100                               # optional; default 100
  min_agreement: 0.9       # optional: share of the target champion's latest input rows on
                           # which the candidate predicts the champion's label (classifiers)
  max_mean_abs_diff: 2.5   # optional: the same for regressors, as mean |difference|
  agreement_rows: 1000     # optional; rows of that input compared (default 1000)
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
DEFAULT_AGREEMENT_ROWS = 1000
_KEYS = (
    "metrics",
    "sample_table",
    "sample_rows",
    "min_agreement",
    "max_mean_abs_diff",
    "agreement_rows",
)
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
    # Shadow agreement with the target's champion (mlsys.monitoring.shadow); None: not required.
    min_agreement: float | None = None
    max_mean_abs_diff: float | None = None
    agreement_rows: int = DEFAULT_AGREEMENT_ROWS

    @property
    def wants_agreement(self) -> bool:
        return self.min_agreement is not None or self.max_mean_abs_diff is not None


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
        unknown = set(body) - set(_KEYS)
        if unknown:
            raise ConfigError(
                f"{source}: {name!r} has unknown keys {sorted(unknown)}: expected "
                f"{', '.join(_KEYS)}"
            )
        metrics = body.get("metrics") or {}
        if not isinstance(metrics, dict):
            raise ConfigError(f"{source}: {name}.metrics must map metric names to thresholds")
        models[str(name)] = ModelPolicy(
            thresholds=[parse_threshold(str(m), s) for m, s in metrics.items()],
            sample_table=body.get("sample_table"),
            sample_rows=_positive(body, "sample_rows", DEFAULT_SAMPLE_ROWS, f"{source}: {name}"),
            min_agreement=_share(body.get("min_agreement"), f"{source}: {name}.min_agreement"),
            max_mean_abs_diff=_number(
                body.get("max_mean_abs_diff"), f"{source}: {name}.max_mean_abs_diff"
            ),
            agreement_rows=_positive(
                body, "agreement_rows", DEFAULT_AGREEMENT_ROWS, f"{source}: {name}"
            ),
        )
    return PromotionConfig(models, source)


def _positive(body: dict[str, Any], key: str, default: int, where: str) -> int:
    value = body.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{where}.{key} must be a positive integer")
    return value


def _number(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{where} must be a non-negative number, found {value!r}")
    return float(value)


def _share(value: Any, where: str) -> float | None:
    number = _number(value, where)
    if number is not None and number > 1:
        raise ConfigError(f"{where} is a share of rows: expected 0..1, found {value!r}")
    return number


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
