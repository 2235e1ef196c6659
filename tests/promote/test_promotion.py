"""Gated promotion dev -> staging -> prod, aliases, rollback, archive and the audit trail,
against the local stack (the target buckets' function registers each copy)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from mlsys import audit
from mlsys.clients import storage_client
from mlsys.errors import (
    ArtifactExists,
    InvalidInput,
    PromotionGateFailed,
    RollbackUnavailable,
    VersionInUse,
)
from mlsys.gcs import gcs_get, gcs_list_blobs, gcs_put
from mlsys.promote import archive, promote, rollback, version_stages
from mlsys.promote.copy import copy_version, plan_copy
from mlsys.registry import get_version
from mlsys.registry.aliases import current_aliases
from mlsys.settings import get_settings
from tests.promote.conftest import config_for
from tests.promote.helpers import upload

FLOW = "promo-flow"


def _trail(env: str) -> list[tuple[str, int | None, str | None]]:
    return [(e.action, e.model_version, e.alias) for e in audit.history(FLOW, env=env)]


def test_promotion_lifecycle_from_dev_to_prod_and_back(model_bytes, metadata, training_table):
    config = config_for(FLOW)
    upload(model_bytes, FLOW, 1, metadata=metadata())
    upload(model_bytes, FLOW, 2, metadata=metadata(metrics={"accuracy": 0.83}))

    seen = []
    dry = promote(
        FLOW,
        "v1",
        from_env="dev",
        to_env="staging",
        dry_run=True,
        config=config,
        on_gate=seen.append,
    )
    assert dry.outcome == "dry-run" and "would be promoted" in dry.message
    assert [(g.gate, g.status) for g in seen] == [
        ("registered", "pass"),
        ("metadata", "pass"),
        ("metrics", "pass"),
        ("schema", "pass"),
        ("smoke", "pass"),
    ]
    assert "accuracy 0.82 meets accuracy >= 0.78" in seen[2].evidence
    assert "predicted 50 rows" in seen[4].evidence
    assert not gcs_list_blobs("mlsys-models-staging", prefix=f"{FLOW}/")

    staged = promote(FLOW, 1, from_env="dev", to_env="staging", config=config)
    assert staged.outcome == "promoted" and staged.copy is not None
    assert staged.copy.copied == [f"{FLOW}/v1/metadata.json", f"{FLOW}/v1/model.pkl"]
    assert get_version("staging", FLOW, "champion").model_version == 1
    copied = storage_client().bucket("mlsys-models-staging").get_blob(f"{FLOW}/v1/model.pkl")
    assert copied.metadata["promoted-from"].startswith(f"gs://mlsys-models-dev/{FLOW}/v1/")
    assert copied.metadata["uploader"] == get_settings().actor_name()

    prod = promote(FLOW, 1, from_env="staging", to_env="prod", config=config)
    assert prod.outcome == "promoted" and prod.previous_champion is None
    assert get_version("prod", FLOW, "champion").sha256 == get_version("dev", FLOW, 1).sha256

    again = promote(FLOW, 1, from_env="staging", to_env="prod", config=config)
    assert again.outcome == "noop" and not again.gates
    assert "already the champion of prod" in again.message

    promote(FLOW, 2, from_env="dev", to_env="staging", config=config)
    second = promote(FLOW, 2, from_env="staging", to_env="prod", config=config)
    assert second.previous_champion == 1
    aliases = current_aliases("prod", FLOW)
    assert {a: r.model_version for a, r in aliases.items()} == {"champion": 2, "previous": 1}
    stages = {s.model_version: s.stage for s in version_stages(FLOW)}
    assert stages == {1: "staging", 2: "production"}

    back = rollback(FLOW, env="prod")
    assert (back.champion, back.previous) == (1, 2)
    assert get_version("prod", FLOW, "champion").model_version == 1
    assert get_version("prod", FLOW, "previous").model_version == 2
    assert _predict_with_champion(training_table)["model_version"] == 1

    assert _trail("prod") == [
        ("register", 1, None),
        ("promote", 1, None),
        ("alias", 1, "champion"),
        ("register", 2, None),
        ("promote", 2, None),
        ("alias", 2, "champion"),
        ("alias", 1, "previous"),
        ("rollback", 1, None),
        ("alias", 1, "champion"),
        ("alias", 2, "previous"),
    ]
    promoted = audit.history(FLOW, env="prod", actions=("promote",))[0]
    assert (promoted.from_env, promoted.to_env) == ("staging", "prod")
    assert promoted.actor and [g["gate"] for g in promoted.gate_results or []][-1] == "smoke"
    assert [e.action for e in audit.history(FLOW, env="dev")] == ["register", "register"]

    with pytest.raises(VersionInUse, match="champion of prod"):
        archive(FLOW, 1)
    assert archive(FLOW, "v2", env="prod").archived == ["prod"]
    assert not archive(FLOW, "v2", env="prod").changed  # already archived: nothing to do
    # still the champion of staging, so not archived as a whole
    assert {s.model_version: s.stage for s in version_stages(FLOW)} == {
        1: "production",
        2: "staging",
    }
    with pytest.raises(RollbackUnavailable, match="archived in prod"):
        rollback(FLOW, env="prod")


def test_archive_everywhere_retires_the_version(model_bytes, metadata):
    name = "promo-retired"
    upload(model_bytes, name, 1, metadata=metadata())
    upload(model_bytes, name, 1, metadata=metadata(), env="staging")
    result = archive(name, "v1")
    assert result.archived == ["dev", "staging"]
    assert [s.stage for s in version_stages(name)] == ["archived"]
    error = _refused(name, 1, config_for(name))
    assert "archived in dev" in error.message


def _predict_with_champion(input_table: str) -> dict:
    """POST /predict with model_version=champion, in-process over the stack."""
    from service.main import create_app

    response = TestClient(create_app()).post(
        "/predict",
        json={
            "env": "prod",
            "input_table": input_table,
            "output_table": input_table.replace(".titanic", ".promo_flow_champion"),
            "model_name": FLOW,
            "model_version": "champion",
            "write_disposition": "truncate",
        },
    )
    assert response.status_code == 200, response.text
    return response.json()


def _refused(name: str, version: int, config, to_env: str = "staging") -> PromotionGateFailed:
    with pytest.raises(PromotionGateFailed) as info:
        promote(name, version, from_env="dev", to_env=to_env, config=config)
    return info.value


def _statuses(error: PromotionGateFailed) -> dict[str, str]:
    return {g["gate"]: g["status"] for g in error.details["gates"]}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "case, overrides, failed, skipped",
    [
        ("low", {"metrics": {"accuracy": 0.61}}, {"metrics"}, set()),
        ("nometric", {"metrics": {"f1": 0.9}}, {"metrics"}, set()),
        ("nofeatures", {"features": None}, {"metadata"}, {"metrics", "schema"}),
    ],
)
def test_a_failing_gate_refuses_and_names_it(
    model_bytes, metadata, case, overrides, failed, skipped
):
    name = f"promo-refused-{case}"
    upload(model_bytes, name, 1, metadata=metadata(**overrides))
    error = _refused(name, 1, config_for(name))
    statuses = _statuses(error)
    assert {g for g, s in statuses.items() if s == "fail"} == failed
    assert {g for g, s in statuses.items() if s == "skip"} == skipped
    assert all(f"gate {g}" in error.message or g in error.message for g in failed)
    assert not gcs_list_blobs("mlsys-models-staging", prefix=f"{name}/")
    refusal = audit.history(name, env="staging")
    assert [e.action for e in refusal] == ["promotion_refused"]
    assert refusal[0].gate_results and refusal[0].details.startswith("refused")


def test_below_threshold_is_refused_with_the_metric_as_evidence(model_bytes, metadata):
    name = "promo-threshold"
    upload(model_bytes, name, 1, metadata=metadata(metrics={"accuracy": 0.7}))
    error = _refused(name, 1, config_for(name))
    assert "gate metrics failed" in error.message
    assert "accuracy 0.7 FAILS accuracy >= 0.78" in error.message


def test_unregistered_version_and_unconfigured_model_are_refused(model_bytes, metadata):
    name = "promo-unknown"
    upload(model_bytes, name, 1, metadata=metadata())
    assert _statuses(_refused(name, 7, config_for(name))) == {
        "registered": "fail",
        "metadata": "skip",
        "metrics": "skip",
        "schema": "skip",
        "smoke": "skip",
    }
    error = _refused(name, 1, config_for("some-other-model"))
    assert "no thresholds for 'promo-unknown'" in error.message


def test_schema_incompatible_with_the_serving_champion_is_refused(model_bytes, metadata, features):
    name = "promo-schema"
    config = config_for(name)
    upload(model_bytes, name, 1, metadata=metadata())
    promote(name, 1, from_env="dev", to_env="staging", config=config)
    changed = [
        {"name": f["name"], "dtype": "float64" if f["name"] == "Sex" else f["dtype"]}
        for f in features
    ]
    upload(
        model_bytes,
        name,
        2,
        metadata=metadata(features=[*changed, {"name": "Deck", "dtype": "object"}]),
    )
    error = _refused(name, 2, config)
    assert _statuses(error)["schema"] == "fail"
    sex = next(f["dtype"] for f in features if f["name"] == "Sex")
    assert "new feature Deck (object)" in error.message
    assert f"Sex: {sex} -> float64" in error.message
    assert get_version("staging", name, "champion").model_version == 1


def test_an_existing_different_object_is_never_overwritten(model_bytes, metadata):
    name = "promo-clash"
    source = upload(model_bytes, name, 1, metadata=metadata())
    upload(b"someone else's model", name, 1, metadata=None, env="staging")
    objects = plan_copy(source.object_name, source.generation, None)
    with pytest.raises(ArtifactExists, match="different content"):
        copy_version(objects, from_env="dev", to_env="staging")
    assert gcs_get("mlsys-models-staging", f"{name}/v1/model.pkl") == b"someone else's model"


@pytest.mark.parametrize("from_env, to_env", [("dev", "prod"), ("staging", "dev"), ("dev", "dev")])
def test_promotion_goes_one_step_forward(from_env, to_env, stack):
    with pytest.raises(InvalidInput, match="dev -> staging -> prod"):
        promote("any-model", 1, from_env=from_env, to_env=to_env, config=config_for("any-model"))


def test_rollback_without_previous(model_bytes, metadata):
    gcs_put(b"x", "mlsys-models-dev", "promo-lonely/v1/model.pkl")
    with pytest.raises(RollbackUnavailable, match="no champion"):
        rollback("promo-lonely", env="prod")
