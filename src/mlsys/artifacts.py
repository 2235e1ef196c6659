"""Safe model loading: verify an artifact against the registry BEFORE deserializing it.

Loading a pickle runs code, so the bytes are checked first: they must come from the
environment's own models bucket, at the generation the registry recorded, no larger than it
recorded (and than ``MLSYS_MAX_ARTIFACT_BYTES``, checked before downloading), with the sha256 it
recorded (a row without one is refused). Only then are they deserialized: pickle/joblib through
:mod:`mlsys.model_formats` (pickle/joblib through the allow-list unpickler, skops with trusted
types, ONNX); what comes out must have ``predict``. Loaded models are cached
(LRU, keyed by ``(uri, generation)``) so repeated predictions do not download and unpickle again.
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
    ArtifactTooLarge,
    IntegrityError,
    ObjectNotFound,
    UnsupportedFormat,
    UntrustedArtifact,
    UnverifiedArtifact,
)
from mlsys.model_formats import to_model
from mlsys.settings import get_settings

if TYPE_CHECKING:
    from mlsys.registry import ModelVersion

log = logging.getLogger(__name__)

FORMATS = ("pkl", "joblib", "skops", "onnx")


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


_cache = _ModelCache()


def clear_cache() -> None:
    """Forget every loaded model (tests, or after a rotation of the bucket)."""
    _cache.clear()


def load_model(ref: ArtifactRef, *, allowed_bucket: str) -> LoadedModel:
    """Download, verify and deserialize ``ref``; cached by ``(uri, generation)``.

    ``allowed_bucket`` is the environment's models bucket: nothing else is ever loaded. The
    size is checked on the object's metadata before any byte is downloaded; the bytes are
    hashed as they arrive and refused (:class:`IntegrityError`) unless they are what the
    registry recorded; pickles are then read through :mod:`mlsys.safe_pickle`.
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
    if not ref.sha256:
        raise UnverifiedArtifact(
            f"{ref.uri}: the registry recorded no sha256 for generation {ref.generation} (it "
            "could not be hashed when it was registered); refusing to load unverified bytes: "
            "upload the model as a new version"
        )
    cached = _cache.get((ref.uri, ref.generation or 0))
    if cached is not None:
        return cached
    settings = get_settings()
    blob = _object_at(ref)
    generation = int(blob.generation)
    key = (ref.uri, generation)
    check_size(ref, int(blob.size or 0), settings.max_artifact_bytes)
    buffer, digest = _download(ref, blob)
    if ref.sha256.lower() != digest:
        raise IntegrityError(
            f"{ref.uri}: sha256 mismatch (registry {ref.sha256}, artifact {digest}); "
            "refusing to deserialize it"
        )
    model = to_model(ref.uri, buffer.getvalue(), fmt)
    loaded = LoadedModel(model=model, ref=ref, generation=generation, sha256=digest)
    _cache.put(key, loaded, settings.model_cache_size)
    log.info("loaded %s (generation %s, %d bytes)", ref.uri, generation, blob.size)
    return loaded


def check_size(ref: ArtifactRef, size: int, limit: int) -> None:
    """Refuse, before downloading, an object the registry did not record or that is too big."""
    if ref.size is not None and ref.size != size:
        raise IntegrityError(
            f"{ref.uri}: the registry recorded {ref.size} bytes, the object has {size}; "
            "refusing to download it"
        )
    if size > limit:
        raise ArtifactTooLarge(
            f"{ref.uri} is {size} bytes, more than MLSYS_MAX_ARTIFACT_BYTES={limit}; "
            "not downloaded (raise the limit if the service has the memory for it)",
            details={"size": size, "limit": limit},
        )


class _HashingBuffer(io.BytesIO):
    """Download target that hashes bytes as they arrive and never grows past ``limit``."""

    def __init__(self, uri: str, limit: int) -> None:
        super().__init__()
        self.uri, self.limit, self.sha256 = uri, limit, hashlib.sha256()

    def write(self, data: Any) -> int:
        if self.tell() + len(data) > self.limit:
            raise IntegrityError(
                f"{self.uri}: more bytes arrived than the {self.limit} its metadata announced"
            )
        self.sha256.update(data)
        return super().write(data)


def _object_at(ref: ArtifactRef) -> Any:
    """The object's metadata at the registered generation (the live one if none is given)."""
    client = storage_client(get_settings().env_for_bucket(ref.bucket))
    blob = client.bucket(ref.bucket).get_blob(ref.object_name, generation=ref.generation)
    if blob is not None:
        return blob
    if ref.generation is not None:
        raise IntegrityError(
            f"{ref.uri}: the registered generation {ref.generation} is gone (the object was "
            "replaced or deleted); refusing to load another one"
        )
    raise ObjectNotFound(f"artifact {ref.uri} does not exist")


def _download(ref: ArtifactRef, blob: Any) -> tuple[io.BytesIO, str]:
    """The object's bytes (one copy, in memory) and their sha256, computed while streaming."""
    buffer = _HashingBuffer(ref.uri, int(blob.size or 0))
    # A fresh handle pinned to the generation: a listed blob's mediaLink may name the live
    # object instead (fake-gcs-server's does), and the hash would then refuse the bytes.
    pinned = blob.bucket.blob(blob.name, generation=blob.generation)
    try:
        pinned.download_to_file(buffer)
    except gexc.NotFound:
        raise IntegrityError(
            f"{ref.uri}: generation {blob.generation} disappeared during the download"
        ) from None
    buffer.seek(0)
    return buffer, buffer.sha256.hexdigest()
