"""Turning verified artifact bytes into a model, per format, running no code of theirs.

pickle/joblib go through the allow-list unpickler (:mod:`mlsys.safe_pickle`), skops files may
hold only the types skops trusts plus ``TRUSTED_SKOPS_TYPES``, ONNX runs in onnxruntime. What
comes out must have ``predict``; bytes that are not a model are :class:`InvalidArtifact` (422).
Call these only on bytes already verified against the registry (:mod:`mlsys.artifacts`).
"""

from __future__ import annotations

from typing import Any

from mlsys.errors import InvalidArtifact, MlsysError, UnsupportedFormat, UntrustedArtifact
from mlsys.settings import get_settings

#: Types a skops file may contain beyond those skops trusts by default (plain scikit-learn
#: estimators, numpy arrays and builtins). Anything else is refused, never loaded.
TRUSTED_SKOPS_TYPES: frozenset[str] = frozenset(
    {
        "numpy.dtype",
        "sklearn.tree._tree.Tree",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn._loss.link.Interval",
        "sklearn._loss.link.IdentityLink",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.link.MultinomialLogit",
        "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn._loss.loss.HalfMultinomialLoss",
        "sklearn._loss.loss.HalfSquaredError",
    }
)


def deserialize(raw: bytes, fmt: str) -> Any:
    """Turn verified bytes into a model object (pickles through the allow-list)."""
    if fmt in ("pkl", "joblib"):
        from mlsys import safe_pickle  # joblib loads on first use, not at the service's start

        settings = get_settings()
        return safe_pickle.loads(
            raw,
            trusted_modules=settings.trusted_module_prefixes,
            max_bytes=settings.max_artifact_bytes,
        )
    if fmt == "skops":
        return _load_skops(raw)
    if fmt == "onnx":
        from mlsys.predict.onnx import load_onnx

        return load_onnx(raw)
    raise UnsupportedFormat(f"unsupported artifact format {fmt!r}")


def to_model(uri: str, data: bytes, fmt: str) -> Any:
    """:func:`deserialize` verified bytes into a model, any failure of theirs a clear 422."""
    try:
        model = deserialize(data, fmt)
    except MlsysError:
        raise
    except Exception as exc:  # corrupt or truncated bytes fail in many ways, all the artifact's
        raise InvalidArtifact(
            f"{uri} could not be read as a {fmt} model: {type(exc).__name__}: {exc}"
        ) from None
    if not callable(getattr(model, "predict", None)):
        raise InvalidArtifact(
            f"{uri} holds a {type(model).__module__}.{type(model).__qualname__}, not a "
            "model: expected an estimator with a predict() method"
        )
    return model


def _load_skops(data: bytes) -> Any:
    import skops.io as sio

    untrusted = sio.get_untrusted_types(data=data)
    refused = sorted(t for t in untrusted if t not in TRUSTED_SKOPS_TYPES)
    if refused:
        raise UntrustedArtifact(
            f"skops artifact holds types that are not trusted: {', '.join(refused)}; "
            "expected scikit-learn estimators and numpy arrays only"
        )
    return sio.loads(data, trusted=list(untrusted))
