"""Shared set-up of the monitoring tests on the local stack: the demo's Titanic tables (and a
shifted copy), a trained Titanic Pipeline, and models logged with mlsys.log_model."""

from __future__ import annotations

import uuid
from typing import Any

import pandas as pd
import pytest

from mlsys.bq import bq_put
from mlsys.demo import shifted
from mlsys.examples import titanic
from mlsys.registry import ModelVersion, wait_for_version
from mlsys.settings import get_settings
from mlsys.upload import log_model
from tests.promote.helpers import load_titanic_tables


@pytest.fixture(scope="session")
def titanic_tables(stack) -> dict[str, str]:
    """``train``, ``test`` and ``shifted`` (Age + 20, Fare x 3) table ids in mlsys_dev, and
    ``out``: the dataset prediction outputs go to (mlsys_predictions_dev)."""
    train_table = load_titanic_tables()
    dataset = train_table.rsplit(".", 1)[0]
    _, test = titanic.split(titanic.load_csv())
    bq_put(
        shifted(test.drop(columns=[titanic.TARGET])),
        f"{dataset}.titanic_test_shifted",
        "WRITE_TRUNCATE",
    )
    return {
        "train": train_table,
        "test": f"{dataset}.titanic_test",
        "shifted": f"{dataset}.titanic_test_shifted",
        "dataset": dataset,
        "out": get_settings().predictions_dataset_ref("dev"),
    }


@pytest.fixture(scope="session")
def titanic_train() -> tuple[pd.DataFrame, pd.Series]:
    train, _ = titanic.split(titanic.load_csv())
    return train[titanic.FEATURES], train[titanic.TARGET]


@pytest.fixture(scope="session")
def titanic_model(titanic_train) -> Any:
    x, y = titanic_train
    return titanic.build_pipeline().fit(x, y)


def log_and_wait(model: Any, name: str, x: pd.DataFrame, y: Any, **kw: Any) -> ModelVersion:
    """log_model into dev, then wait for the function to register the version."""
    kw.setdefault("metrics", {"accuracy": 0.82})
    version = log_model(model, name, X=x, y=y, env="dev", **kw)
    return wait_for_version("dev", name, version, timeout=60)


@pytest.fixture
def model_name() -> str:
    return f"mon-{uuid.uuid4().hex[:10]}"
