"""Safe model loading: verify an artifact against the registry BEFORE deserializing it.

Loading a pickle runs code, so the bytes are checked first: they must come from the
environment's own models bucket, at the generation the registry recorded, with the sha256 it
recorded. Only then are they deserialized (pickle/joblib, skops with an explicit list of trusted
types, or ONNX through onnxruntime). Loaded models are cached (LRU, keyed by ``(uri,
generation)``) so repeated predictions do not download and unpickle again.
"""

from __future__ import annotations

import hashlib
import io
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from google.api_core import exceptions as gexc

from mlsys.clients import storage_client
from mlsys.errors import (
    ArtifactPathError,
    IntegrityError,
    ObjectNotFound,
    UnsupportedFormat,
    UntrustedArtifact,
)
from mlsys.settings import get_settings

if TYPE_CHECKING:
    from mlsys.registry import ModelVersion

log = logging.getLogger(__name__)

FORMATS = ("pkl", "joblib", "skops", "onnx")

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


@dataclass(frozen=True)
class ArtifactRef:
    """Where a model artifact is and what its bytes must be (from the registry)."""

    bucket: str
    object_name: str
    format: str
    generation: int | None = None
    sha256: str | None = None
    size: int | None = None

    @property
    def uri(self) -> str:
        return f"gs://{self.bucket}/{self.object_name}"

    @classmethod
    def from_uri(cls, uri: str, **kwargs: Any) -> ArtifactRef:
        """``gs://bucket/path/model.pkl`` (format from the file name)."""
        if not uri.startswith("gs://") or "/" not in uri[5:]:
            raise ArtifactPathError(f"artifact uri {uri!r}: expected gs://bucket/path/model.EXT")
        bucket, name = uri[5:].split("/", 1)
        return cls(bucket, name, format_of(name), **kwargs)

    @classmethod
    def from_version(cls, mv: ModelVersion) -> ArtifactRef:
        """The artifact a registry row describes, with its recorded generation and hash."""
        return cls(
            bucket=mv.gcs_bucket,
            object_name=mv.object_name,
            format=mv.artifact_format or format_of(mv.object_name),
            generation=mv.generation,
            sha256=mv.sha256,
            size=mv.file_size_bytes,
        )


@dataclass(frozen=True)
class LoadedModel:
    """A deserialized model and the verified identity of the bytes it came from."""

    model: Any
    ref: ArtifactRef
    generation: int
    sha256: str


def format_of(object_name: str) -> str:
    """``pkl``, ``joblib``, ``skops`` or ``onnx`` from ``.../model.EXT``."""
    ext = object_name.rsplit(".", 1)[-1].lower() if "." in object_name else ""
    if ext not in FORMATS:
        raise UnsupportedFormat(
            f"artifact {object_name!r} has format {ext or '(none)'!r}: expected one of "
            f"{', '.join(FORMATS)}"
        )
    return ext


class _ModelCache:
    """A small thread-safe LRU of loaded models keyed by ``(uri, generation)``."""

    def __init__(self) -> None:
        self._items: OrderedDict[tuple[str, int], LoadedModel] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int]) -> LoadedModel | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(self, key: tuple[str, int], item: LoadedModel, capacity: int) -> None:
        if capacity <= 0:
            return
        with self._lock:
            self._items[key] = item
            self._items.move_to_end(key)
            while len(self._items) > capacity:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


_cache = _ModelCache()


def clear_cache() -> None:
    """Forget every loaded model (tests, or after a rotation of the bucket)."""
    _cache.clear()


def load_model(ref: ArtifactRef, *, allowed_bucket: str) -> LoadedModel:
    """Download, verify and deserialize ``ref``; cached by ``(uri, generation)``.

    ``allowed_bucket`` is the environment's models bucket: nothing else is ever loaded.
    Raises :class:`IntegrityError` when the bytes differ from what the registry recorded.
    """
    if ref.bucket != allowed_bucket:
        raise UntrustedArtifact(
            f"refusing to load {ref.uri}: models are only loaded from gs://{allowed_bucket}"
        )
    fmt = format_of(ref.object_name)
    if ref.format != fmt:
        raise IntegrityError(
            f"{ref.uri}: the registry says format {ref.format!r}, the file name says {fmt!r}"
        )
    generation = ref.generation if ref.generation is not None else _live_generation(ref)
    key = (ref.uri, generation)
    cached = _cache.get(key)
    if cached is not None:
        return cached
    data = _download(ref, generation)
    digest = verify_bytes(ref, data)
    model = deserialize(data, fmt)
    loaded = LoadedModel(model=model, ref=ref, generation=generation, sha256=digest)
    _cache.put(key, loaded, get_settings().model_cache_size)
    log.info("loaded %s (generation %s, %d bytes)", ref.uri, generation, len(data))
    return loaded


def verify_bytes(ref: ArtifactRef, data: bytes) -> str:
    """The sha256 of ``data``, after checking it (and the size) against ``ref``."""
    digest = hashlib.sha256(data).hexdigest()
    if ref.size is not None and ref.size != len(data):
        raise IntegrityError(
            f"{ref.uri}: the registry recorded {ref.size} bytes, the artifact has {len(data)}; "
            "refusing to deserialize it"
        )
    if ref.sha256 is not None and ref.sha256.lower() != digest:
        raise IntegrityError(
            f"{ref.uri}: sha256 mismatch (registry {ref.sha256}, artifact {digest}); "
            "refusing to deserialize it"
        )
    return digest


def deserialize(data: bytes, fmt: str) -> Any:
    """Turn verified bytes into a model object (call only after :func:`verify_bytes`)."""
    if fmt in ("pkl", "joblib"):
        import joblib

        return joblib.load(io.BytesIO(data))  # joblib reads plain pickles too
    if fmt == "skops":
        return _load_skops(data)
    if fmt == "onnx":
        from mlsys.predict.onnx import load_onnx

        return load_onnx(data)
    raise UnsupportedFormat(f"unsupported artifact format {fmt!r}")


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


def _env_of(ref: ArtifactRef) -> str | None:
    """The environment whose bucket holds the artifact (its project and identity)."""
    return get_settings().env_for_bucket(ref.bucket)


def _live_generation(ref: ArtifactRef) -> int:
    blob = storage_client(_env_of(ref)).bucket(ref.bucket).get_blob(ref.object_name)
    if blob is None:
        raise ObjectNotFound(f"artifact {ref.uri} does not exist")
    return int(blob.generation)


def _download(ref: ArtifactRef, generation: int) -> bytes:
    client = storage_client(_env_of(ref))
    blob = client.bucket(ref.bucket).blob(ref.object_name, generation=generation)
    try:
        return bytes(blob.download_as_bytes())
    except gexc.NotFound:
        if ref.generation is not None:
            raise IntegrityError(
                f"{ref.uri}: the registered generation {generation} is gone (the object was "
                "replaced or deleted); refusing to load another one"
            ) from None
        raise ObjectNotFound(f"artifact {ref.uri} does not exist") from None
