"""Shared set-up of the promotion tests: the Titanic tables and uploads of one trained model."""

from __future__ import annotations

import json
from typing import Any

from mlsys.bq import bq_put
from mlsys.examples import titanic
from mlsys.gcs import gcs_put
from mlsys.registry import ModelVersion, wait_for_version
from mlsys.settings import get_settings


def load_titanic_tables() -> str:
    """The demo's tables in mlsys_dev (idempotent); returns the training table id."""
    settings = get_settings()
    dataset = settings.dataset_ref("dev")
    train, test = titanic.split(titanic.load_csv())
    bq_put(train, f"{dataset}.titanic", "WRITE_TRUNCATE")
    bq_put(test.drop(columns=[titanic.TARGET]), f"{dataset}.titanic_test", "WRITE_TRUNCATE")
    return f"{dataset}.titanic"


def upload(
    model_bytes: bytes,
    name: str,
    version: int,
    *,
    metadata: dict[str, Any] | None,
    env: str = "dev",
) -> ModelVersion:
    """Upload metadata.json (if any) then the model, and wait for the registration."""
    bucket = get_settings().bucket_for(env)
    if metadata is not None:
        gcs_put(json.dumps(metadata), bucket, f"{name}/v{version}/metadata.json")
    gcs_put(model_bytes, bucket, f"{name}/v{version}/model.pkl")
    return wait_for_version(env, name, version, timeout=60)
