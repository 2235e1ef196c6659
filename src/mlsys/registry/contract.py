"""The artifact contract: where a model version lives in its bucket and what metadata.json holds.

``{model_name}/v{N}/model.{pkl|joblib|skops|onnx}``, optionally with
``{model_name}/v{N}/metadata.json`` and ``{model_name}/v{N}/profile.json`` (the reference profile
of the training data that drift is measured against, written by :func:`mlsys.log_model`), and
derived files mlsys writes itself (e.g. the BigQuery ML ONNX export) under
``{model_name}/v{N}/exports/``. Profiles and exports are recorded with their hash, never a version.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlsys.errors import ArtifactPathError, InvalidVersion, MetadataError

MODEL_FORMATS = ("pkl", "joblib", "skops", "onnx")
MODEL_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
VERSION_RE = re.compile(r"^v([1-9][0-9]{0,8})$")
METADATA_FILE = "metadata.json"
PROFILE_FILE = "profile.json"
EXPORTS_DIR = "exports"
EXPORT_FILE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

ObjectKind = Literal["model", "metadata", "profile", "export"]


@dataclass(frozen=True)
class ArtifactPath:
    """A parsed object name that fits the contract."""

    model_name: str
    version: int
    kind: ObjectKind
    artifact_format: str | None  # for kind == "model"

    @property
    def version_label(self) -> str:
        return f"v{self.version}"

    @property
    def prefix(self) -> str:
        return f"{self.model_name}/v{self.version}/"


def check_model_name(name: str) -> str:
    if not MODEL_NAME_RE.match(name or ""):
        raise ArtifactPathError(
            f"invalid model name {name!r}: expected lowercase letters, digits and hyphens, "
            "starting with a letter, at most 63 characters"
        )
    return name


def parse_version(spec: str | int) -> int:
    """``vN`` or ``N`` (positive, no leading zeros) -> N."""
    text = str(spec).strip()
    match = VERSION_RE.match(text if text.startswith("v") else f"v{text}")
    if not match:
        raise InvalidVersion(
            f"invalid version {spec!r}: expected 'vN' or 'N' with N a positive integer "
            "without leading zeros"
        )
    return int(match.group(1))


def parse_artifact_path(object_name: str) -> ArtifactPath:
    """Parse an object name, or raise :class:`ArtifactPathError` saying what does not fit."""
    expected = (
        "expected '{model_name}/v{N}/model.{pkl|joblib|skops|onnx}', '.../metadata.json' or "
        "'.../profile.json'"
    )
    if not object_name or object_name.startswith("/") or "\\" in object_name:
        raise ArtifactPathError(f"invalid object path {object_name!r}: {expected}")
    parts = object_name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise ArtifactPathError(f"path traversal or empty segment in {object_name!r}: {expected}")
    if len(parts) == 4 and parts[2] == EXPORTS_DIR:
        if not EXPORT_FILE_RE.match(parts[3]):
            raise ArtifactPathError(f"invalid export file name in {object_name!r}")
        parts = [parts[0], parts[1], f"{EXPORTS_DIR}/{parts[3]}"]
    elif len(parts) != 3:
        raise ArtifactPathError(
            f"object {object_name!r} has {len(parts)} path segments: {expected}"
        )
    name, version_part, filename = parts
    check_model_name(name)
    match = VERSION_RE.match(version_part)
    if not match:
        raise ArtifactPathError(
            f"invalid version folder {version_part!r} in {object_name!r}: expected 'vN' with N "
            "a positive integer without leading zeros"
        )
    version = int(match.group(1))
    if filename == METADATA_FILE:
        return ArtifactPath(name, version, "metadata", None)
    if filename == PROFILE_FILE:
        return ArtifactPath(name, version, "profile", None)
    if filename.startswith(f"{EXPORTS_DIR}/"):
        return ArtifactPath(name, version, "export", filename.rsplit(".", 1)[-1].lower())
    stem, _, ext = filename.partition(".")
    if stem == "model" and ext in MODEL_FORMATS:
        return ArtifactPath(name, version, "model", ext)
    raise ArtifactPathError(
        f"unknown file {filename!r} in {object_name!r}: expected model.pkl, model.joblib, "
        "model.skops, model.onnx, metadata.json or profile.json"
    )


class Feature(BaseModel):
    """A model input column; ``dtype`` is None when metadata.json lists names only."""

    name: str = Field(min_length=1)
    dtype: str | None = Field(None, min_length=1)


#: Top-level keys of the seed's metadata.json that are metrics: ``{split}_{metric}`` with a
#: number (``test_accuracy``, ``cv_roc_auc``); counts such as ``test_samples`` are not.
TOP_LEVEL_METRIC_RE = re.compile(
    r"^(?:test|train|training|val|valid|validation|cv|holdout|oob)_[a-z0-9]+(?:_[a-z0-9]+)*$"
)
_COUNT_SUFFIXES = ("_samples", "_rows", "_size", "_count", "_records")


class ModelMetadata(BaseModel):
    """``metadata.json``: every field optional; unknown keys are kept.

    The seed's format is accepted and normalised: ``features`` as a list of column names (types
    unknown), metrics as top-level keys (``test_accuracy``: collected into ``metrics``, which
    wins on a clash) and ``hyperparameters`` (copied to ``params``); the original keys stay.
    """

    model_config = ConfigDict(extra="allow")

    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    metrics: dict[str, float] = Field(default_factory=dict)
    features: list[Feature] | None = None
    target: str | None = None
    framework: str | None = None
    training_data: str | None = None
    created_by: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _seed_format(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        metrics = data.get("metrics")
        if metrics is None or isinstance(metrics, dict):
            found = {k: v for k, v in data.items() if is_top_level_metric(k, v)}
            if found:
                data["metrics"] = {**found, **(metrics or {})}
        if "params" not in data and isinstance(data.get("hyperparameters"), dict):
            data["params"] = data["hyperparameters"]
        return data

    @field_validator("features", mode="before")
    @classmethod
    def _names_only(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": item} if isinstance(item, str) else item for item in value]
        return value


def is_top_level_metric(key: str, value: Any) -> bool:
    """Whether a top-level metadata.json key is a metric (``test_accuracy: 0.81``)."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and bool(TOP_LEVEL_METRIC_RE.match(key))
        and not key.endswith(_COUNT_SUFFIXES)
    )


def parse_metadata(raw: bytes | str) -> ModelMetadata:
    """Parse and validate metadata.json, raising :class:`MetadataError` with what is wrong."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MetadataError(f"metadata.json is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MetadataError(f"metadata.json must be a JSON object, found {type(data).__name__}")
    try:
        return ModelMetadata.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise MetadataError(f"metadata.json does not fit the schema: {problems}") from None
