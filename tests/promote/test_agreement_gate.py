"""The agreement gate of promotion.yaml: a candidate must predict like the target's champion
on the champion's latest real input (scored side by side, as a shadow job does)."""

from __future__ import annotations

import pytest

from mlsys.errors import ConfigError, PromotionGateFailed
from mlsys.examples import titanic
from mlsys.predict import run_prediction
from mlsys.promote import parse_config, promote
from mlsys.registry import get_version, wait_for_version
from mlsys.registry.aliases import alias_of_models
from mlsys.settings import get_settings
from mlsys.upload import log_model


def config(name: str, **agreement):
    return parse_config(
        {name: {"metrics": {"accuracy": ">= 0.78"}, "sample_rows": 50, **agreement}}
    )


def log(model, name: str, training_table: str) -> int:
    train, _ = titanic.split(titanic.load_csv())
    x, y = train[titanic.FEATURES], train[titanic.TARGET]
    version = log_model(
        model, name, X=x, y=y, metrics={"accuracy": 0.82}, env="dev", training_table=training_table
    )
    wait_for_version("dev", name, version, timeout=60)
    return version


@pytest.fixture
def champion(training_table, unique):
    """v1 of a fresh model, champion of staging, with one prediction job there."""
    name = f"agree-{unique}"
    train, _ = titanic.split(titanic.load_csv())
    model = titanic.build_pipeline().fit(train[titanic.FEATURES], train[titanic.TARGET])
    log(model, name, training_table)
    promote(name, 1, from_env="dev", to_env="staging", config=config(name))
    dataset = training_table.rsplit(".", 1)[0]
    return name, model, dataset


def champion_job(name: str, dataset: str, unique: str) -> None:
    """A prediction job of the champion in staging: the rows the agreement gate replays."""
    run_prediction(
        env="staging",
        input_table=f"{dataset}.titanic_test",
        output_table=f"{get_settings().predictions_dataset_ref('staging')}.agree_{unique}",
        model_name=name,
        model_version="champion",
    )


def test_a_challenger_that_disagrees_with_the_champion_is_refused(champion, training_table, unique):
    name, _, dataset = champion
    champion_job(name, dataset, unique)
    train, _ = titanic.split(titanic.load_csv())
    contrarian = titanic.build_pipeline().fit(train[titanic.FEATURES], 1 - train[titanic.TARGET])
    log(contrarian, name, training_table)
    seen = []
    with pytest.raises(PromotionGateFailed, match="agreement"):
        promote(
            name,
            2,
            from_env="dev",
            to_env="staging",
            config=config(name, min_agreement=0.9),
            on_gate=seen.append,
        )
    gate = {g.gate: g for g in seen}["agreement"]
    assert gate.status == "fail" and "FAILS min_agreement 0.9" in gate.evidence
    assert f"{dataset}.titanic_test" in gate.evidence and "champion v1 of staging" in gate.evidence
    assert get_version("staging", name, "champion").model_version == 1


def test_a_challenger_that_agrees_is_promoted(champion, training_table, unique):
    name, model, dataset = champion
    champion_job(name, dataset, unique)
    log(model, name, training_table)  # the same Pipeline again: it agrees on every row
    seen = []
    result = promote(
        name,
        2,
        from_env="dev",
        to_env="staging",
        config=config(name, min_agreement=0.9),
        on_gate=seen.append,
    )
    assert result.outcome == "promoted"
    gate = {g.gate: g for g in seen}["agreement"]
    assert gate.status == "pass" and "same label on 100.0% meets" in gate.evidence


def test_a_champion_that_never_predicted_gives_no_agreement_to_trust(champion, training_table):
    name, model, _ = champion
    log(model, name, training_table)
    with pytest.raises(PromotionGateFailed, match="no succeeded prediction job of champion v1"):
        promote(
            name,
            2,
            from_env="dev",
            to_env="staging",
            config=config(name, min_agreement=0.9),
            dry_run=True,
        )


def test_the_gate_is_not_run_unless_promotion_yaml_asks(champion, training_table):
    name, model, _ = champion
    assert alias_of_models("staging")[name].model_version == 1  # the console's champion column
    log(model, name, training_table)
    seen = []
    promote(
        name,
        2,
        from_env="dev",
        to_env="staging",
        config=config(name),
        dry_run=True,
        on_gate=seen.append,
    )
    assert "agreement" not in {g.gate for g in seen}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"min_agreement": 1.5}, "expected 0..1"),
        ({"min_agreement": "high"}, "non-negative number"),
        ({"max_mean_abs_diff": -1}, "non-negative number"),
        ({"agreement_rows": 0}, "positive integer"),
    ],
)
def test_bad_agreement_settings_say_what_is_wrong(body, message):
    with pytest.raises(ConfigError, match=message):
        parse_config({"m": body})


def test_agreement_settings_are_parsed():
    policy = parse_config({"m": {"min_agreement": 0.95, "agreement_rows": 500}}).policy("m")
    assert policy is not None and policy.wants_agreement
    assert (policy.min_agreement, policy.max_mean_abs_diff, policy.agreement_rows) == (
        0.95,
        None,
        500,
    )
