"""What the registry function audits for each kind of event, and that duplicates count once."""

from __future__ import annotations

import pytest

from mlsys import audit
from mlsys.registry.records import RegistryEvent, event_key, now


def _event(name: str, **fields) -> RegistryEvent:
    base = {
        "event_type": "finalized",
        "status": "registered",
        "object_kind": "model",
        "environment": "dev",
        "model_name": name,
        "model_version": 1,
        "uploader": "alice@example.com",
        "artifact_uri": f"gs://mlsys-models-dev/{name}/v1/model.pkl",
        "generation": 7,
    }
    base.update(fields)
    key = event_key("mlsys-models-dev", base["artifact_uri"], 7, base["event_type"])
    return RegistryEvent(event_id=key, registered_at=now(), **base)


@pytest.mark.parametrize(
    "case, fields, expected",
    [
        ("model", {}, [("register", "alice@example.com")]),
        (
            "deleted",
            {"event_type": "deleted", "status": "deleted"},
            [("delete", "alice@example.com")],
        ),
        (
            "rejected",
            {"status": "rejected", "reject_reason": "two model files"},
            [("reject", "alice@example.com")],
        ),
        ("metadata", {"object_kind": "metadata"}, []),
        ("nowhere", {"environment": None}, []),
    ],
)
def test_registrations_are_audited_once(stack, case, fields, expected):
    name = f"audit-{case}"
    event = _event(name, **fields)
    audit.record_registration(event)
    audit.record_registration(event)  # a redelivered event
    assert [(e.action, e.actor) for e in audit.history(name)] == expected


def test_unknown_action_is_a_programming_error(stack):
    with pytest.raises(ValueError, match="unknown audit action"):
        audit.new_entry("dev", "delete-everything")
