"""``monitoring.yaml``: the drift thresholds that turn figures into ``ok`` / ``warn`` / ``alert``.

```yaml
drift:                       # every model (these are the defaults when the file is absent)
  psi: {warn: 0.1, alert: 0.25}
  js_distance: {warn: null, alert: null}      # reported; no status unless set
  null_rate_increase: {warn: 0.05, alert: 0.2}
models:
  titanic-survival:
    drift: {psi: {alert: 0.3}}               # this model (keys override one by one)
    features:
      Fare: {psi: {warn: 0.2, alert: 0.5}}   # one feature ("prediction": the predictions)
```

A figure at or above ``alert`` is an alert, at or above ``warn`` a warning; the status of a
feature is the worst of its figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import yaml

from mlsys.errors import ConfigError
from mlsys.settings import find_project_root, get_settings

Status = Literal["ok", "warn", "alert"]
STATUSES: tuple[Status, ...] = ("ok", "warn", "alert")
METRICS = ("psi", "js_distance", "null_rate_increase")


def worst(statuses: Sequence[str]) -> Status | None:
    """The most severe status of ``statuses`` (None when there is none)."""
    ranked = [s for s in STATUSES if s in statuses]
    return ranked[-1] if ranked else None


@dataclass(frozen=True)
class Limits:
    """Warn and alert levels of one figure (None: that level is off)."""

    warn: float | None = None
    alert: float | None = None

    def status(self, value: float | None) -> Status:
        if value is None:
            return "ok"
        if self.alert is not None and value >= self.alert:
            return "alert"
        if self.warn is not None and value >= self.warn:
            return "warn"
        return "ok"


@dataclass(frozen=True)
class DriftPolicy:
    """The limits of each drift figure."""

    psi: Limits = Limits(0.1, 0.25)
    js_distance: Limits = Limits()
    null_rate_increase: Limits = Limits(0.05, 0.2)

    def status(self, *, psi: float | None, js: float | None, null_increase: float) -> Status:
        found = [
            self.psi.status(psi),
            self.js_distance.status(js),
            self.null_rate_increase.status(null_increase),
        ]
        return worst(found) or "ok"


@dataclass(frozen=True)
class ModelDrift:
    policy: DriftPolicy
    features: dict[str, DriftPolicy] = field(default_factory=dict)


@dataclass(frozen=True)
class MonitoringConfig:
    """The parsed monitoring.yaml; ``source`` names it in messages."""

    defaults: DriftPolicy = DriftPolicy()
    models: dict[str, ModelDrift] = field(default_factory=dict)
    source: str = "defaults"

    def policy(self, model_name: str, feature: str) -> DriftPolicy:
        """The limits for one feature of one model."""
        model = self.models.get(model_name)
        if model is None:
            return self.defaults
        return model.features.get(feature, model.policy)


def _limits(base: Limits, body: Any, where: str) -> Limits:
    if not isinstance(body, dict) or set(body) - {"warn", "alert"}:
        raise ConfigError(f"{where} must be a mapping with warn and/or alert, found {body!r}")
    values = {}
    for key in ("warn", "alert"):
        value = body.get(key, getattr(base, key))
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ConfigError(f"{where}.{key} must be a number or null, found {value!r}")
        values[key] = None if value is None else float(value)
    warn, alert = values["warn"], values["alert"]
    if warn is not None and alert is not None and warn > alert:
        raise ConfigError(f"{where}: warn {values['warn']} is above alert {values['alert']}")
    return Limits(**values)


def _policy(base: DriftPolicy, body: Any, where: str) -> DriftPolicy:
    if body is None:
        return base
    if not isinstance(body, dict):
        raise ConfigError(f"{where} must map {', '.join(METRICS)} to limits")
    unknown = set(body) - set(METRICS)
    if unknown:
        raise ConfigError(f"{where} has unknown keys {sorted(unknown)}: expected {METRICS}")
    changes = {k: _limits(getattr(base, k), v, f"{where}.{k}") for k, v in body.items()}
    return replace(base, **changes)


def parse_monitoring(data: Any, source: str = "monitoring.yaml") -> MonitoringConfig:
    """Validate the YAML document of a monitoring config."""
    data = {} if data is None else data
    if not isinstance(data, dict) or set(data) - {"drift", "models"}:
        raise ConfigError(f"{source} must be a mapping with 'drift' and/or 'models'")
    defaults = _policy(DriftPolicy(), data.get("drift"), "drift")
    models = {}
    for name, body in (data.get("models") or {}).items():
        if not isinstance(body, dict) or set(body) - {"drift", "features"}:
            raise ConfigError(f"{source}: models.{name} must be a mapping with drift, features")
        policy = _policy(defaults, body.get("drift"), f"models.{name}.drift")
        features = {
            str(feature): _policy(policy, limits, f"models.{name}.features.{feature}")
            for feature, limits in (body.get("features") or {}).items()
        }
        models[str(name)] = ModelDrift(policy, features)
    return MonitoringConfig(defaults, models, source)


def load_monitoring(path: str | Path | None = None) -> MonitoringConfig:
    """Read ``path``, else ``MLSYS_MONITORING_CONFIG`` (relative to the project root); the
    defaults when that file does not exist."""
    target = Path(path or get_settings().monitoring_config)
    if not target.is_absolute():
        target = find_project_root() / target
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        if path is not None:
            raise ConfigError(f"monitoring config {target} does not exist") from None
        return MonitoringConfig()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{target} is not valid YAML: {exc}") from None
    return parse_monitoring(data, str(target))
