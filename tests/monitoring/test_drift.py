"""Drift figures and the statuses monitoring.yaml gives them."""

from __future__ import annotations

import numpy as np
import pytest

from mlsys.errors import ConfigError
from mlsys.monitoring.config import (
    DriftPolicy,
    Limits,
    MonitoringConfig,
    load_monitoring,
    parse_monitoring,
    worst,
)
from mlsys.monitoring.drift import compare, js_distance, psi
from mlsys.monitoring.profile import Histogram, Profile
from tests.conftest import ROOT


def test_identical_distributions_have_no_drift():
    assert psi([10, 20, 30], [1, 2, 3]) == pytest.approx(0.0)
    assert js_distance([10, 20, 30], [1, 2, 3]) == pytest.approx(0.0)


def test_disjoint_distributions_are_maximally_apart():
    assert js_distance([10, 0], [0, 10]) == pytest.approx(1.0)
    assert psi([10, 0], [0, 10]) > 10  # floored at EPSILON, not infinite


def test_nothing_to_compare_gives_no_figure():
    assert psi([0, 0], [1, 1]) is None and js_distance([1], [0]) is None


def test_psi_matches_its_textbook_formula():
    p, q = np.asarray([0.2, 0.3, 0.5]), np.asarray([0.25, 0.25, 0.5])
    assert psi([20, 30, 50], [25, 25, 50]) == pytest.approx(float(np.sum((p - q) * np.log(p / q))))


@pytest.mark.parametrize(
    ("value", "status"),
    [(None, "ok"), (0.05, "ok"), (0.1, "warn"), (0.24, "warn"), (0.25, "alert")],
)
def test_limits_turn_figures_into_statuses(value, status):
    assert Limits(0.1, 0.25).status(value) == status


def test_the_worst_status_wins():
    assert worst(["ok", "alert", "warn"]) == "alert" and worst([]) is None
    policy = DriftPolicy()
    assert policy.status(psi=0.01, js=None, null_increase=0.3) == "alert"


def test_model_and_feature_overrides_apply_key_by_key():
    config = parse_monitoring(
        {
            "drift": {"psi": {"warn": 0.2}},
            "models": {
                "m": {"drift": {"psi": {"alert": 0.5}}, "features": {"x": {"psi": {"warn": 0.4}}}}
            },
        }
    )
    assert config.policy("other", "x").psi == Limits(0.2, 0.25)
    assert config.policy("m", "y").psi == Limits(0.2, 0.5)
    assert config.policy("m", "x").psi == Limits(0.4, 0.5)
    assert config.policy("m", "x").null_rate_increase == Limits(0.05, 0.2)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "must be a mapping"),
        ({"drift": {"psy": {"warn": 1}}}, "unknown keys"),
        ({"drift": {"psi": {"warn": "high"}}}, "must be a number"),
        ({"drift": {"psi": {"warn": 0.5, "alert": 0.1}}}, "above alert"),
        ({"models": {"m": {"thresholds": {}}}}, "drift, features"),
    ],
)
def test_bad_monitoring_configs_say_what_is_wrong(data, message):
    with pytest.raises(ConfigError, match=message):
        parse_monitoring(data)


def test_the_repos_monitoring_yaml_is_valid():
    config = load_monitoring(ROOT / "monitoring.yaml")
    assert config.defaults.psi.alert is not None


def test_compare_gives_one_row_per_feature_and_one_for_the_predictions():
    reference = Profile(
        100,
        {
            "a": Histogram("numeric", [50, 50], edges=[0.0]),
            "b": Histogram("numeric", [50, 50], edges=[0.0]),
        },
        Histogram("categorical", [60, 40, 0], categories=["0", "1"]),
    )
    current = Profile(
        100,
        {
            "a": Histogram("numeric", [50, 50], edges=[0.0]),
            "b": Histogram("numeric", [5, 95], 10, edges=[0.0]),
        },
        Histogram("categorical", [60, 40, 0], categories=["0", "1"]),
    )
    rows = {r.feature: r for r in compare(reference, current, MonitoringConfig(), model_name="m")}
    assert list(rows) == ["a", "b", "prediction"]
    assert (rows["a"].status, rows["b"].status, rows["prediction"].status) == ("ok", "alert", "ok")
    assert rows["b"].null_rate == pytest.approx(10 / 110) and rows["b"].reference_null_rate == 0
    assert rows["prediction"].role == "prediction" and rows["b"].labels == ("<= 0", "> 0")
