from __future__ import annotations

import io
from typing import Any

import joblib
import pytest

from mlsys.examples import titanic
from mlsys.promote import PromotionConfig, parse_config
from tests.promote.helpers import load_titanic_tables


@pytest.fixture(scope="session")
def training_table(stack) -> str:
    return load_titanic_tables()


@pytest.fixture(scope="session")
def model_bytes() -> bytes:
    """One trained Titanic Pipeline, pickled once for every upload of these tests."""
    train, _ = titanic.split(titanic.load_csv())
    model = titanic.build_pipeline().fit(train[titanic.FEATURES], train[titanic.TARGET])
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def features() -> list[dict[str, str]]:
    train, _ = titanic.split(titanic.load_csv())
    return titanic.feature_schema(train)


@pytest.fixture
def metadata(training_table, features):
    """metadata.json of a good version; pass overrides for a bad one."""

    def make(**overrides: Any) -> dict[str, Any]:
        body = {
            "description": "promotion test model",
            "metrics": {"accuracy": 0.82},
            "features": features,
            "target": titanic.TARGET,
            "training_data": training_table,
        }
        return {**body, **overrides}

    return make


def config_for(*names: str, threshold: str = ">= 0.78") -> PromotionConfig:
    return parse_config({n: {"metrics": {"accuracy": threshold}, "sample_rows": 50} for n in names})
