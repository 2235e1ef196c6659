"""Refusals shaped as Google Cloud sends them, so the official clients raise what they would
raise on Google Cloud (``google.api_core.exceptions.Forbidden``/``PermissionDenied``) with a
message naming the permission and the resource."""

from __future__ import annotations

import json
from typing import Any

from mlsys.local.iam import Check


def _bigquery_name(resource: str) -> tuple[str, str]:
    """``("Table", "P:D.T")`` / ``("Dataset", "P:D")`` / ``("Project", "P")``."""
    parts = resource.split("/")
    if len(parts) >= 6 and parts[4] == "tables":
        return "Table", f"{parts[1]}:{parts[3]}.{parts[5]}"
    if len(parts) >= 4 and parts[2] == "datasets":
        return "Dataset", f"{parts[1]}:{parts[3]}"
    return "Project", parts[1] if len(parts) > 1 else resource


def bigquery_message(check: Check, email: str) -> str:
    kind, name = _bigquery_name(check.resource)
    if kind == "Project":
        return (
            f"Access Denied: Project {name}: User does not have {check.permission} permission "
            f"in project {name}."
        )
    return (
        f"Access Denied: {kind} {name}: Permission {check.permission} denied on "
        f"{kind.lower()} {name} (or it may not exist)."
    )


def bigquery_denied(check: Check, email: str) -> dict[str, Any]:
    """The body of BigQuery's 403 (reason ``accessDenied``)."""
    message = bigquery_message(check, email)
    return {
        "error": {
            "code": 403,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": "accessDenied"}],
            "status": "PERMISSION_DENIED",
        }
    }


def storage_denied(check: Check, email: str) -> dict[str, Any]:
    """The body of Cloud Storage's 403 (reason ``forbidden``)."""
    kind = "object" if "/objects/" in check.resource else "bucket"
    if check.resource.startswith("projects/"):
        kind = "project"
    what = f"the Google Cloud Storage {kind}" if kind != "project" else "the Google Cloud project"
    message = (
        f"{email} does not have {check.permission} access to {what}. Permission "
        f"'{check.permission}' denied on resource (or it may not exist)."
    )
    return {
        "error": {
            "code": 403,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": "forbidden"}],
        }
    }


def run_denied(check: Check, email: str) -> dict[str, Any]:
    """The body of the Cloud Run Admin API's 403."""
    message = (
        f"Permission '{check.permission}' denied on resource '{check.resource}' (or resource "
        "may not exist)."
    )
    return {"error": {"code": 403, "message": message, "status": "PERMISSION_DENIED"}}


def grpc_message(check: Check, email: str) -> str:
    """The details of a gRPC PERMISSION_DENIED (Storage Read/Write API)."""
    return (
        f"Permission '{check.permission}' denied on resource '{check.resource}' (or it may not "
        f"exist). Caller: {email}."
    )


def unauthenticated(token: str) -> dict[str, Any]:
    """A token that claims to be a local identity but names none (401, as Google answers an
    invalid credential)."""
    message = (
        f"Request had invalid authentication credentials: {token!r} is not a token of the "
        "local stack (see `mlsys local token --as service|function|job|promoter`)."
    )
    return {"error": {"code": 401, "message": message, "status": "UNAUTHENTICATED"}}


def body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()
