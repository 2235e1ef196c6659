"""Gated promotion dev -> staging -> prod, aliases, rollback, archive and lifecycle stages.
See ``docs/promotion.md``."""

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
