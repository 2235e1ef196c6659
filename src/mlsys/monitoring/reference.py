"""The reference profile of a version: built from the training data by :func:`mlsys.log_model`,
stored as ``{model}/v{N}/profile.json`` beside the model, read back by prediction jobs only
after its sha256 matched the registry's."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from google.api_core import exceptions as gexc

from mlsys.errors import MlsysError
from mlsys.monitoring.profile import (
    Histogram,
    Profile,
    count_labels,
    count_numeric,
    histogram_of,
    kind_of,
    label_key,
    quantile_edges,
)
from mlsys.registry.contract import PROFILE_FILE
from mlsys.settings import get_settings

if TYPE_CHECKING:
    import pandas as pd

    from mlsys.registry import ModelVersion

log = logging.getLogger(__name__)

_CACHE: dict[tuple[str, str, int | None], Profile] = {}
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 32


def column_of(series: pd.Series) -> pa.Array:
    """A pandas column as Arrow: numbers and booleans as float64 (NaN: null), else strings."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        values = series.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)
        return pa.array(values, from_pandas=True)
    return pa.array(series.astype("string"), from_pandas=True)


def build_reference(model: Any, x: pd.DataFrame, features: Sequence[str] | None = None) -> Profile:
    """The profile of the training rows ``x`` and of ``model``'s predictions on them."""
    names = list(features or x.columns)
    histograms = {}
    for name in names:
        column = column_of(x[name])
        histograms[str(name)] = histogram_of(column, kind_of(column.type))
    return Profile(len(x), histograms, prediction_reference(model, model.predict(x[names])))


def prediction_reference(model: Any, prediction: Any) -> Histogram:
    """The histogram of a model's predictions: per class for a classifier, else quantile bins."""
    classes = getattr(model, "classes_", None)
    values = np.asarray(prediction)
    if classes is not None:
        categories = [label_key(c) for c in np.asarray(classes).tolist()]
        counts = count_labels(values, {c: i for i, c in enumerate(categories)})
        return Histogram("categorical", counts.tolist(), categories=categories)
    floats = values.astype(np.float64).ravel()
    edges = quantile_edges(floats)
    counts, nulls = count_numeric(floats, np.asarray(edges, dtype=np.float64))
    return Histogram("numeric", counts.tolist(), nulls, edges=edges)


def profile_object(model_name: str, version: int) -> str:
    """Where a version's reference profile lives in its bucket."""
    return f"{model_name}/v{version}/{PROFILE_FILE}"


def load_reference(mv: ModelVersion, *, env: str) -> Profile | None:
    """The registered reference profile of ``mv`` after checking its sha256; None when the
    version has none, or it cannot be used (logged: a job never fails for want of drift)."""
    if mv.profile_sha256 is None:
        return None
    bucket = get_settings().bucket_for(env)
    if mv.gcs_bucket != bucket:
        log.error(
            "profile of %s v%s is not in %s: not used", mv.model_name, mv.model_version, bucket
        )
        return None
    key = (
        f"gs://{bucket}/{profile_object(mv.model_name, mv.model_version)}",
        mv.profile_sha256,
        mv.profile_generation,
    )
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
    if cached is not None:
        return cached
    try:
        profile = _download(env, bucket, mv)
    except (MlsysError, gexc.GoogleAPIError) as exc:
        log.warning("no drift for %s v%s: %s", mv.model_name, mv.model_version, exc)
        return None
    with _CACHE_LOCK:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = profile
    return profile


def _download(env: str, bucket: str, mv: ModelVersion) -> Profile:
    from mlsys.clients import storage_client
    from mlsys.errors import IntegrityError

    name = profile_object(mv.model_name, mv.model_version)
    blob = storage_client(env).bucket(bucket).blob(name, generation=mv.profile_generation)
    raw = blob.download_as_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != mv.profile_sha256:
        raise IntegrityError(
            f"gs://{bucket}/{name} has sha256 {digest}, the registry recorded {mv.profile_sha256}"
        )
    return Profile.from_json(raw)
