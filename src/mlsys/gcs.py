"""Cloud Storage I/O: the seed's public functions, with one shared client and clear errors."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import joblib
from google.api_core import exceptions as gexc

from mlsys import clients
from mlsys.errors import BucketNotFound, ObjectNotFound
from mlsys.settings import get_settings

if TYPE_CHECKING:
    from google.cloud.storage import Blob


def _client(bucket_name: str) -> Any:
    """The client of the environment that owns ``bucket_name`` (its project, its identity)."""
    return clients.storage_client(get_settings().env_for_bucket(bucket_name))


def _not_found(bucket_name: str, blob_path: str | None, exc: Exception) -> Exception:
    client = _client(bucket_name)
    if blob_path is None or client.lookup_bucket(bucket_name) is None:
        return BucketNotFound(f"bucket gs://{bucket_name} does not exist")
    return ObjectNotFound(f"object gs://{bucket_name}/{blob_path} does not exist")


def gcs_get(bucket_name: str, blob_path: str) -> bytes:
    """Download raw bytes: ``gcs_get("mlsys-models-dev", "titanic-survival/v1/metadata.json")``.

    Raises :class:`~mlsys.errors.ObjectNotFound` / :class:`~mlsys.errors.BucketNotFound`.
    """
    blob = _client(bucket_name).bucket(bucket_name).blob(blob_path)
    try:
        return blob.download_as_bytes()
    except gexc.NotFound as exc:
        raise _not_found(bucket_name, blob_path, exc) from None


def gcs_put(
    content: bytes | str,
    bucket_name: str,
    blob_path: str,
    *,
    content_type: str | None = None,
    metadata: dict[str, str] | None = None,
    if_generation_match: int | None = None,
) -> int:
    """Upload bytes or text (text is UTF-8 encoded); returns the new object generation.

    ``if_generation_match=0`` makes the upload fail instead of overwriting an existing object.
    """
    data = content.encode("utf-8") if isinstance(content, str) else content
    blob = _client(bucket_name).bucket(bucket_name).blob(blob_path)
    # The registry records who uploaded an artifact from this custom metadata key.
    blob.metadata = {"uploader": get_settings().actor_name(), **(metadata or {})}
    try:
        blob.upload_from_string(
            data,
            content_type=content_type or _guess_content_type(blob_path),
            if_generation_match=if_generation_match,
        )
    except gexc.NotFound as exc:
        raise _not_found(bucket_name, None, exc) from None
    return int(blob.generation or 0)


def gcs_get_pickle(bucket_name: str, blob_path: str) -> Any:
    """Download and unpickle an object you trust (e.g. your own model).

    Do not use this on artifacts of unknown origin: loading a pickle runs code. The prediction
    service never calls it; it loads models through :mod:`mlsys.artifacts`, which checks the
    registry's hash first.
    """
    return joblib.load(io.BytesIO(gcs_get(bucket_name, blob_path)))


def gcs_put_pickle(obj: Any, bucket_name: str, blob_path: str) -> int:
    """Serialize ``obj`` with joblib and upload it; returns the new object generation.

    >>> gcs_put_pickle(model, "mlsys-models-dev", "titanic-survival/v3/model.pkl")
    """
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    return gcs_put(buffer.getvalue(), bucket_name, blob_path)


def gcs_list_blobs(bucket_name: str, prefix: str | None = None) -> list[Blob]:
    """List the live objects of a bucket (optionally under ``prefix``), with their metadata."""
    try:
        return list(_client(bucket_name).list_blobs(bucket_name, prefix=prefix))
    except gexc.NotFound as exc:
        raise _not_found(bucket_name, None, exc) from None


def _guess_content_type(blob_path: str) -> str:
    if blob_path.endswith(".json"):
        return "application/json"
    if blob_path.endswith((".txt", ".md", ".csv")):
        return "text/plain"
    return "application/octet-stream"
