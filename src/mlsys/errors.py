"""The errors of mlsys: one root, subclasses named for the condition.

Each class carries a stable ``code`` (used in API error bodies and CLI output) and the HTTP
status the service answers with. The mapping to HTTP lives in ONE place: the service's exception
handler reads ``http_status`` from here; the library never raises ``HTTPException``.
Messages say what was expected and what was found.
"""

from __future__ import annotations


class MlsysError(Exception):
    """Root of every error mlsys raises on purpose."""

    code = "MLSYS_ERROR"
    http_status = 500

    def __init__(self, message: str, *, details: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def to_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"error": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


# -- 400: the request itself is malformed ------------------------------------------------------
class InvalidInput(MlsysError):
    code = "INVALID_INPUT"
    http_status = 400


class InvalidEnvironment(InvalidInput):
    code = "INVALID_ENVIRONMENT"


class InvalidTableId(InvalidInput):
    code = "INVALID_TABLE_ID"


class InvalidIdentifier(InvalidInput):
    code = "INVALID_IDENTIFIER"


class ArtifactPathError(InvalidInput):
    code = "INVALID_ARTIFACT_PATH"


class InvalidVersion(InvalidInput):
    code = "INVALID_VERSION"


class MetadataError(InvalidInput):
    code = "INVALID_METADATA"


class ConfigError(InvalidInput):
    code = "INVALID_CONFIG"


# -- 404: something named does not exist ---------------------------------------------------------
class NotFound(MlsysError):
    code = "NOT_FOUND"
    http_status = 404


class ObjectNotFound(NotFound):
    code = "OBJECT_NOT_FOUND"


class BucketNotFound(NotFound):
    code = "BUCKET_NOT_FOUND"


class TableNotFound(NotFound):
    code = "TABLE_NOT_FOUND"


class ModelNotFound(NotFound):
    code = "MODEL_NOT_FOUND"


class VersionNotFound(NotFound):
    code = "VERSION_NOT_FOUND"


class JobNotFound(NotFound):
    code = "JOB_NOT_FOUND"


# -- 409: conflicts with the current state ---------------------------------------------------
class Conflict(MlsysError):
    code = "CONFLICT"
    http_status = 409


class ArtifactExists(Conflict):
    code = "ARTIFACT_EXISTS"


class JobConflict(Conflict):
    code = "JOB_CONFLICT"


class StackAlreadyRunning(Conflict):
    code = "STACK_ALREADY_RUNNING"


# -- 422: well-formed but unusable -------------------------------------------------------------
class Unprocessable(MlsysError):
    code = "UNPROCESSABLE"
    http_status = 422


class SchemaMismatch(Unprocessable):
    code = "SCHEMA_MISMATCH"


class MissingFeatures(SchemaMismatch):
    code = "MISSING_FEATURES"


class FeatureTypeError(SchemaMismatch):
    code = "FEATURE_TYPE_MISMATCH"


class OutputSchemaMismatch(SchemaMismatch):
    code = "OUTPUT_SCHEMA_MISMATCH"


class UnsupportedFormat(Unprocessable):
    code = "UNSUPPORTED_FORMAT"


class PromotionGateFailed(Unprocessable):
    code = "PROMOTION_GATE_FAILED"


# -- safe artifact loading (mlsys.artifacts, mlsys.safe_pickle) ------------------------------
class UntrustedGlobal(Unprocessable):
    """A pickle names a global outside the allow-list; nothing of it was run."""

    code = "UNTRUSTED_GLOBAL"


class InvalidArtifact(Unprocessable):
    """Verified bytes that are not a usable model (corrupt, truncated, no ``predict``)."""

    code = "INVALID_ARTIFACT"


class ArtifactTooLarge(Unprocessable):
    """The artifact is larger than ``MLSYS_MAX_ARTIFACT_BYTES``; it was not downloaded."""

    code = "ARTIFACT_TOO_LARGE"


# -- 403: refused for safety -------------------------------------------------------------------
class IntegrityError(MlsysError):
    """An artifact's bytes do not match what the registry recorded; never deserialize it."""

    code = "ARTIFACT_INTEGRITY"
    http_status = 403


class UntrustedArtifact(IntegrityError):
    code = "UNTRUSTED_ARTIFACT"


class UnverifiedArtifact(IntegrityError):
    """The registry has no sha256 for the version: its bytes cannot be verified."""

    code = "ARTIFACT_UNVERIFIED"


# -- 403: least privilege (the caller's identity lacks a Terraform grant) -------------------------
class AccessDenied(MlsysError):
    """Google Cloud refused a call for lack of a permission; the message names it."""

    code = "PERMISSION_DENIED"
    http_status = 403


# -- 503: a backend could not be reached -------------------------------------------------------
class BackendUnavailable(MlsysError):
    code = "BACKEND_UNAVAILABLE"
    http_status = 503


class LocalStackError(MlsysError):
    """The local emulator stack could not be started or reached."""

    code = "LOCAL_STACK_ERROR"
    http_status = 503


# -- prediction ---------------------------------------------------------------------------------
class PredictionFailed(Unprocessable):
    """The model raised on the input rows (e.g. NULLs a model without imputation rejects)."""

    code = "PREDICTION_FAILED"


# -- promotion and lifecycle ----------------------------------------------------------------
class VersionInUse(Conflict):
    """The version is serving (e.g. archiving the champion)."""

    code = "VERSION_IN_USE"


class RollbackUnavailable(Conflict):
    """There is no usable ``previous`` version to roll back to."""

    code = "ROLLBACK_UNAVAILABLE"


# -- API surface (issue 11 item 7): inputs the prediction engine cannot read ------------------
class UnsupportedTableType(Unprocessable):
    """The input is a view or another kind of table the Storage Read API cannot read."""

    code = "UNSUPPORTED_TABLE_TYPE"


# -- upload feedback and archived versions ------------------------------------------------------
class UploadRejected(Unprocessable):
    """The registry recorded an upload as rejected (wrong path, second model file, ...)."""

    code = "UPLOAD_REJECTED"


class VersionArchived(Conflict):
    """The version was archived (``mlsys archive``): predicting with it needs allow_archived."""

    code = "VERSION_ARCHIVED"


# -- online prediction (mlsys.online) ----------------------------------------------------------
class InvalidBody(InvalidInput):
    """The body of an online prediction is not the JSON it should be."""

    code = "INVALID_BODY"


class InvalidInstances(Unprocessable):
    """Instances that do not fit the version's features (each bad field named in ``details``)."""

    code = "INVALID_INSTANCES"


class TooManyInstances(MlsysError):
    """More instances (or body bytes) in one online request than the service accepts."""

    code = "TOO_MANY_INSTANCES"
    http_status = 413


# -- clients of the service (mlsys.online, the CLI's read commands) ----------------------------
def error_from_body(data: dict[str, object], status: int) -> MlsysError:
    """The mlsys error class named by a service error body's ``error`` code (else the root)."""
    code = str(data.get("error", ""))
    message = str(data.get("message", f"the service answered {status}"))
    details = data.get("details")
    cls = _error_classes().get(code)
    if cls is None:
        error = MlsysError(message, details=details if isinstance(details, dict) else None)
        error.code, error.http_status = code or error.code, status
        return error
    return cls(message, details=details if isinstance(details, dict) else None)


def _error_classes() -> dict[str, type[MlsysError]]:
    found: dict[str, type[MlsysError]] = {}
    pending: list[type[MlsysError]] = [MlsysError]
    while pending:
        cls = pending.pop()
        found.setdefault(cls.code, cls)
        pending.extend(cls.__subclasses__())
    return found
