"""Gated promotion dev -> staging -> prod, aliases, rollback, archive and lifecycle stages.
See ``docs/promotion.md``. Names are imported on first use (the service starts light)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlsys._lazy import lazy_attributes

if TYPE_CHECKING:
    from mlsys.promote.config import PromotionConfig, load_config, parse_config
    from mlsys.promote.gates import GateResult
    from mlsys.promote.lifecycle import VersionStage, archive, version_stages
    from mlsys.promote.promotion import PromotionResult, RollbackResult, promote, rollback

__all__ = [
    "GateResult",
    "PromotionConfig",
    "PromotionResult",
    "RollbackResult",
    "VersionStage",
    "archive",
    "load_config",
    "parse_config",
    "promote",
    "rollback",
    "version_stages",
]

_WHERE = {
    "GateResult": "gates",
    "PromotionConfig": "config",
    "load_config": "config",
    "parse_config": "config",
    "VersionStage": "lifecycle",
    "archive": "lifecycle",
    "version_stages": "lifecycle",
    "PromotionResult": "promotion",
    "RollbackResult": "promotion",
    "promote": "promotion",
    "rollback": "promotion",
}


__getattr__ = lazy_attributes(__name__, _WHERE)
