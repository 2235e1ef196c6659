"""Real models uploaded to the emulated bucket and registered by the real function."""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import joblib
import numpy as np
import pandas as pd

from mlsys.gcs import gcs_put
from mlsys.registry import ModelVersion, wait_for_version
from mlsys.settings import get_settings


def model_bytes(model: Any, fmt: str) -> bytes:
    if fmt in ("pkl", "joblib"):
        buffer = io.BytesIO()
        joblib.dump(model, buffer)
        return buffer.getvalue()
    if fmt == "skops":
        import skops.io as sio

        return sio.dumps(model)
    raise ValueError(fmt)


def publish(
    model: Any | bytes,
    *,
    fmt: str = "pkl",
    metadata: dict[str, Any] | None = None,
    name: str | None = None,
    version: int = 1,
) -> ModelVersion:
    """Upload ``model`` (an object or the artifact bytes) to dev and wait until registered."""
    name = name or f"t-{uuid.uuid4().hex[:10]}"
    bucket = get_settings().bucket_for("dev")
    prefix = f"{name}/v{version}"
    if metadata is not None:
        gcs_put(json.dumps(metadata), bucket, f"{prefix}/metadata.json")
    data = model if isinstance(model, bytes) else model_bytes(model, fmt)
    gcs_put(data, bucket, f"{prefix}/model.{fmt}")
    return wait_for_version("dev", name, version, timeout=30)


def numeric_frame(n: int, k: int = 4, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.random((n, k)), columns=[f"f{i}" for i in range(k)])
    frame.insert(0, "row_id", np.arange(n, dtype="int64"))
    return frame
