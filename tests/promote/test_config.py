"""promotion.yaml parsing and the feature-schema comparison (no stack needed)."""

from __future__ import annotations

import pytest

from mlsys.errors import ConfigError
from mlsys.promote import load_config, parse_config
from mlsys.promote.config import parse_threshold
from mlsys.promote.gates import compare_features, sample_table_ref
from mlsys.settings import Settings
from tests.conftest import ROOT


@pytest.mark.parametrize(
    "spec, actual, passes",
    [
        (">= 0.78", 0.78, True),
        (">= 0.78", 0.7799, False),
        ("> 0.5", 0.5, False),
        ("<= 0.1", 0.05, True),
        ("< 1e-2", 0.01, False),
        ("== 1", 1.0, True),
        (0.8, 0.81, True),
    ],
)
def test_thresholds(spec, actual, passes):
    assert parse_threshold("m", spec).check(actual) is passes


@pytest.mark.parametrize(
    "data, message",
    [
        (["titanic"], "must map model names"),
        ({"m": "accuracy"}, "must be a mapping"),
        ({"m": {"metrics": {"accuracy": "about 0.8"}}}, "expected an operator"),
        ({"m": {"metrics": {"accuracy": True}}}, "expected e.g."),
        ({"m": {"metrics": ["accuracy"]}}, "must map metric names"),
        ({"m": {"metric": {"accuracy": ">= 1"}}}, "unknown keys"),
        ({"m": {"sample_rows": 0}}, "positive integer"),
    ],
)
def test_bad_configs_say_what_is_wrong(data, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(data)


def test_the_repo_config_gates_the_titanic_model():
    config = load_config(ROOT / "promotion.yaml")
    policy = config.policy("titanic-survival")
    assert policy is not None and [str(t) for t in policy.thresholds] == ["test_accuracy >= 0.78"]
    # the seed's metadata.json has no training_data: the smoke test's sample comes from here
    assert policy.sample_table == "mlsys_dev.titanic"


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


F = [{"name": "Age", "dtype": "float64"}, {"name": "Sex", "dtype": "object"}]


@pytest.mark.parametrize(
    "candidate, problems, notes",
    [
        (F, [], []),
        ([F[0]], [], ["feature Sex no longer used"]),
        ([*F, {"name": "Cabin", "dtype": "object"}], ["new feature Cabin (object)"], []),
        ([{"name": "Age", "dtype": "int64"}, F[1]], [], ["Age: float64 -> int64 (same kind)"]),
        ([F[0], {"name": "Sex", "dtype": "float64"}], ["Sex: object -> float64"], []),
        # the seed's names-only features: compared by name, the kind cannot be checked
        (
            [{"name": "Age"}, {"name": "Sex"}],
            [],
            [
                "Age: float64 -> ? (dtype unknown: not compared)",
                "Sex: object -> ? (dtype unknown: not compared)",
            ],
        ),
        ([*F, {"name": "Cabin"}], ["new feature Cabin (dtype unknown)"], []),
    ],
)
def test_feature_compatibility(candidate, problems, notes):
    assert compare_features(candidate, F) == (problems, notes)


@pytest.mark.parametrize(
    "sample, from_env, expected",
    [
        # the shipped sample names dev's registry dataset: read in dev's project from any source
        ("mlsys_dev.titanic", "dev", "proj-dev.mlsys_dev.titanic"),
        ("mlsys_dev.titanic", "staging", "proj-dev.mlsys_dev.titanic"),
        ("samples.titanic", "staging", "proj-staging.samples.titanic"),
        ("other-proj.mlsys_dev.titanic", "staging", "other-proj.mlsys_dev.titanic"),
    ],
)
def test_smoke_sample_tables_resolve_in_the_project_of_their_environment(
    sample, from_env, expected
):
    settings = Settings(
        _env_file=None,
        GCP_PROJECT_ID_DEV="proj-dev",
        GCP_PROJECT_ID_STAGING="proj-staging",
        GCP_PROJECT_ID_PROD="proj-prod",
    )
    assert str(sample_table_ref(sample, from_env, settings)) == expected
