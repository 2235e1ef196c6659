"""``mlsys.log_model``: upload a trained model as the next free version, with its metadata.json,
lineage and reference profile, in one call from a notebook.

The version number is claimed, not guessed: every object is written with
``if_generation_match=0`` (create, never overwrite), ``metadata.json`` first. When two
``log_model`` calls pick the same ``vN`` at once, exactly one creates ``vN/metadata.json``;
the other gets 412 before writing anything else there and moves on to ``vN+1``. The model file
goes last, because its event registers the version (the registry then finds the metadata and
the profile already in place).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import platform
import subprocess
from collections.abc import Mapping, Sequence
from importlib import metadata as importlib_metadata
from typing import TYPE_CHECKING, Any

from google.api_core import exceptions as gexc

from mlsys.errors import Conflict, InvalidInput, InvalidTableId
from mlsys.registry.contract import METADATA_FILE, check_model_name
from mlsys.settings import check_env, find_project_root, get_settings

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

#: Versions tried past the first free one before giving up (each lost race costs one).
MAX_VERSION_ATTEMPTS = 20
PACKAGES = ("scikit-learn", "pandas", "numpy", "scipy", "pyarrow", "joblib", "mlsys")


def next_version(bucket: str, model_name: str, *, env: str | None = None) -> int:
    """The first ``vN`` of ``model_name`` after every version folder holding any object."""
    from mlsys.clients import storage_client

    taken = set()
    for blob in storage_client(env).list_blobs(bucket, prefix=f"{model_name}/v"):
        part = blob.name.split("/")[1]
        if part[1:].isdigit():
            taken.add(int(part[1:]))
    return max(taken, default=0) + 1


def log_model(
    model: Any,
    model_name: str,
    *,
    X: pd.DataFrame,
    y: Any = None,
    metrics: Mapping[str, float] | None = None,
    description: str | None = None,
    tags: Sequence[str] | None = None,
    env: str = "dev",
    training_table: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> int:
    """Upload ``model`` as the next free version of ``model_name`` in ``env``; returns N.

    ``X`` (the training features, a DataFrame) gives the features and their dtypes, the row
    count and the reference profile drift is measured against (with the model's predictions
    on it); ``training_table`` is the table (``project.dataset.table``) or query it came from;
    ``metadata`` adds keys of your own to metadata.json.
    """
    import pandas as pd

    from mlsys.monitoring.reference import build_reference, profile_object

    check_model_name(model_name)
    check_env(env)
    if not isinstance(X, pd.DataFrame):
        raise InvalidInput(
            f"X must be a pandas DataFrame of the training features, found {type(X).__name__}"
        )
    if y is not None and len(y) != len(X):
        raise InvalidInput(f"y has {len(y)} rows and X {len(X)}: expected the same rows")
    body = build_metadata(
        model,
        X,
        y,
        metrics=metrics,
        description=description,
        tags=tags,
        training_table=training_table,
        extra=metadata,
    )
    profile = build_reference(model, X).to_json()
    artifact = _pickle(model)
    bucket = get_settings().bucket_for(env)
    version = next_version(bucket, model_name, env=env)
    for _ in range(MAX_VERSION_ATTEMPTS):
        prefix = f"{model_name}/v{version}"
        claim = _create(env, bucket, f"{prefix}/{METADATA_FILE}", json.dumps(body, indent=2))
        if claim is None:
            version += 1  # another upload claimed this number first
            continue
        objects: list[tuple[str, str | bytes]] = [
            (profile_object(model_name, version), profile),
            (f"{prefix}/model.pkl", artifact),
        ]
        _create_rest(env, bucket, (f"{prefix}/{METADATA_FILE}", claim), objects)
        log.info("logged %s v%d in %s (gs://%s/%s/)", model_name, version, env, bucket, prefix)
        return version
    raise Conflict(
        f"could not claim a version of {model_name!r} in gs://{bucket}: {MAX_VERSION_ATTEMPTS} "
        "numbers in a row were taken meanwhile; try again"
    )


def _create_rest(
    env: str, bucket: str, claim: tuple[str, int], objects: list[tuple[str, str | bytes]]
) -> None:
    """The profile, then the model (its event registers the version); on failure, remove what
    this call created (and only that generation) so the number is not left half-used."""
    created = [claim]
    try:
        for name, content in objects:
            generation = _create(env, bucket, name, content)
            if generation is None:
                raise Conflict(f"gs://{bucket}/{name} appeared meanwhile: versions are immutable")
            created.append((name, generation))
    except BaseException:
        _remove(env, bucket, created)
        raise


def _create(env: str, bucket: str, name: str, content: str | bytes) -> int | None:
    """Create an object (never overwrite); its generation, or None if it exists already."""
    from mlsys.clients import storage_client

    blob = storage_client(env).bucket(bucket).blob(name)
    blob.metadata = {"uploader": get_settings().actor_name()}
    data = content.encode("utf-8") if isinstance(content, str) else content
    kind = "application/json" if name.endswith(".json") else "application/octet-stream"
    try:
        blob.upload_from_string(data, content_type=kind, if_generation_match=0)
    except gexc.PreconditionFailed:
        return None
    return int(blob.generation or 0)


def _remove(env: str, bucket: str, objects: list[tuple[str, int]]) -> None:
    from mlsys.clients import storage_client

    for name, generation in objects:
        try:
            blob = storage_client(env).bucket(bucket).blob(name)
            blob.delete(if_generation_match=generation)
        except gexc.GoogleAPIError as exc:  # the version is incomplete either way: say so
            log.warning("could not remove gs://%s/%s after a failed upload: %s", bucket, name, exc)


def _pickle(model: Any) -> bytes:
    import joblib

    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return buffer.getvalue()


def build_metadata(
    model: Any,
    x: pd.DataFrame,
    y: Any,
    *,
    metrics: Mapping[str, float] | None,
    description: str | None,
    tags: Sequence[str] | None,
    training_table: str | None,
    extra: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """metadata.json: what the registry, the gates and the prediction pipeline read, plus the
    lineage; ``extra`` keys are kept, explicit arguments win."""
    import sklearn

    settings = get_settings()
    lineage = {"logged_by": settings.actor_name(), "logged_at": _now(), **git_lineage()}
    body: dict[str, Any] = {
        "features": [{"name": str(c), "dtype": str(x[c].dtype)} for c in x.columns],
        "framework": f"scikit-learn=={sklearn.__version__}",
        "estimator": _estimator_name(model),
        "training_rows": len(x),
        "library_versions": package_versions(model),
        "created_by": settings.actor_name(),
        "profile": "profile.json",
    }
    if training_table:
        source = _training_source(training_table)
        lineage.update(source)
        if "training_table" in source:
            body["training_data"] = source["training_table"]
    name = getattr(y, "name", None)
    if name is not None:
        body["target"] = str(name)
    body.update(dict(extra or {}))
    body["lineage"] = {**lineage, **dict(body.get("lineage") or {})}
    explicit = {
        "metrics": dict(metrics) if metrics is not None else None,
        "description": description,
        "tags": list(tags) if tags is not None else None,
    }
    body.update({k: v for k, v in explicit.items() if v is not None})
    return body


def _training_source(value: str) -> dict[str, str]:
    """``{"training_table": id}`` for a table id, ``{"training_query": sql}`` for a query."""
    from mlsys.identifiers import parse_table_id

    text = value.strip()
    if text.split(None, 1)[0].upper() in ("SELECT", "WITH"):
        return {"training_query": text}
    try:
        return {"training_table": str(parse_table_id(text))}
    except InvalidTableId as exc:
        raise InvalidInput(
            f"training_table {value!r}: expected project.dataset.table or a SELECT query "
            f"({exc.message})"
        ) from None


def git_lineage() -> dict[str, Any]:
    """The commit of the git checkout the code runs in (and whether it had local changes)."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args],
                cwd=find_project_root(),
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if not commit:
        return {}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "git_dirty": bool(status)}


def package_versions(model: Any = None) -> dict[str, str]:
    """Python and the versions of the libraries a model depends on (and its own package's)."""
    names = list(PACKAGES)
    root = type(_final(model)).__module__.split(".")[0] if model is not None else None
    if root:
        names += importlib_metadata.packages_distributions().get(root, [])
    found = {"python": platform.python_version()}
    for name in dict.fromkeys(names):
        try:
            found[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return found


def _final(model: Any) -> Any:
    steps = getattr(model, "steps", None)
    return _final(steps[-1][1]) if steps else model


def _estimator_name(model: Any) -> str:
    final = _final(model)
    return f"{type(final).__module__}.{type(final).__qualname__}"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
