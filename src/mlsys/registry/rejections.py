"""Uploads the registry refused, and why: what ``mlsys models list --rejected``,
``GET /models/rejections`` and :func:`mlsys.registry.wait_for_version` show.

The function records a refused object (a wrong path, an unknown file name, a second model file
in a version, a bucket that is not a models bucket) as a ``rejected`` event with its reason and
acknowledges it; these are those rows, newest first.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel

from mlsys.errors import ArtifactPathError, InvalidInput, UploadRejected
from mlsys.registry.contract import parse_artifact_path
from mlsys.registry.records import RegistryEvent
from mlsys.registry.store import RegistryStore, registry_store
from mlsys.settings import check_env, get_settings

MAX_REJECTIONS = 500


class Rejection(BaseModel):
    """One refused upload (a ``rejected`` row of ``model_registry_events``)."""

    object_name: str | None
    gcs_bucket: str | None
    generation: int | None = None
    reason: str
    rejected_at: dt.datetime
    uploader: str | None = None
    environment: str | None = None
    model_name: str | None = None
    version_label: str | None = None

    @classmethod
    def of(cls, event: RegistryEvent) -> Rejection:
        return cls(
            object_name=event.object_name,
            gcs_bucket=event.gcs_bucket,
            generation=event.generation,
            reason=event.reject_reason or "rejected",
            rejected_at=event.registered_at,
            uploader=event.uploader,
            environment=event.environment,
            model_name=event.model_name,
            version_label=event.version_label,
        )

    @property
    def uri(self) -> str:
        return f"gs://{self.gcs_bucket}/{self.object_name}"

    def message(self) -> str:
        """``rejected: <reason>``, naming the object when the reason does not."""
        where = "" if (self.object_name or "") in self.reason else f" ({self.uri})"
        return f"rejected: {self.reason}{where}"


def list_rejections(
    env: str, *, search: str | None = None, limit: int = 50, store: RegistryStore | None = None
) -> list[Rejection]:
    """Uploads refused in ``env``, newest first; ``search`` is text in the object name."""
    if not 1 <= limit <= MAX_REJECTIONS:
        raise InvalidInput(f"limit must be between 1 and {MAX_REJECTIONS}, got {limit}")
    target = store or registry_store(check_env(env))
    return [Rejection.of(e) for e in target.rejections(search=search or None, limit=limit)]


def check_not_rejected(
    env: str, model_name: str, version: int, *, store: RegistryStore | None = None
) -> None:
    """Raise :class:`UploadRejected` when ``model_name`` v``version`` was uploaded but refused.

    Rejections are found by object name, ignoring case (``iris/v1/model.pickle``, but also
    ``Iris/v1/model.pkl`` for ``iris``). A refusal counts only while no model file that could
    still register is waiting under ``{model_name}/v{version}/``: an old refusal never hides a
    correct upload that the function has not processed yet.
    """
    target = store or registry_store(check_env(env))
    refused = target.rejections(object_prefix=f"{model_name}/v{version}/", limit=20)
    if not refused or _pending_model_file(env, model_name, version, refused):
        return
    newest: dict[str | None, Rejection] = {}
    for event in refused:  # newest first: the latest reason of each object
        newest.setdefault(event.object_name, Rejection.of(event))
    messages = [r.message() for r in newest.values()]
    raise UploadRejected(
        "; ".join(messages),
        details={"objects": [r.uri for r in newest.values()]},
    )


def _pending_model_file(
    env: str, model_name: str, version: int, refused: list[RegistryEvent]
) -> bool:
    """A live, well-named model file under the version's folder that was not refused."""
    from mlsys.clients import storage_client

    bucket = get_settings().bucket_for(env)
    done = {(e.object_name, e.generation) for e in refused}
    prefix = f"{model_name}/v{version}/model."
    for blob in storage_client(env).list_blobs(bucket, prefix=prefix):
        try:
            parse_artifact_path(blob.name)  # model.{pkl|joblib|skops|onnx} and nothing else
        except ArtifactPathError:
            continue
        if (blob.name, blob.generation) not in done:
            return True
    return False
