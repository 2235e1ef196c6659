"""mlsys.log_model on the local stack: the next version, with metadata, lineage and a profile."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest
from typer.testing import CliRunner

from mlsys.cli import _register, app
from mlsys.errors import Conflict, InvalidInput
from mlsys.gcs import gcs_get, gcs_list_blobs, gcs_put, gcs_put_pickle
from mlsys.monitoring.reference import load_reference
from mlsys.registry import get_version, list_versions, wait_for_version
from mlsys.upload import log_model
from tests.monitoring.conftest import log_and_wait
from tests.registry.conftest import wait_until

BUCKET = "mlsys-models-dev"


def test_a_logged_version_has_its_profile_and_lineage_in_the_registry(
    titanic_tables, titanic_train, titanic_model, model_name
):
    x, y = titanic_train
    mv = log_and_wait(
        titanic_model,
        model_name,
        x,
        y,
        description="logged",
        tags=["t"],
        training_table=titanic_tables["train"],
    )
    assert mv.version_label == "v1" and mv.has_profile and mv.profile_sha256
    assert (mv.description, mv.tags, mv.metrics) == ("logged", ["t"], {"accuracy": 0.82})
    assert mv.features == [{"name": c, "dtype": str(x[c].dtype)} for c in x.columns]
    meta = mv.metadata or {}
    assert meta["training_rows"] == len(x) and meta["target"] == "Survived"
    assert meta["training_data"] == titanic_tables["train"]
    lineage = meta["lineage"]
    assert lineage["training_table"] == titanic_tables["train"]
    assert len(lineage["git_commit"]) == 40  # the tests run in a git checkout
    assert {"python", "scikit-learn", "pandas", "numpy", "mlsys"} <= set(meta["library_versions"])
    profile = load_reference(mv, env="dev")
    assert (
        profile is not None and profile.rows == len(x) and set(profile.features) == set(x.columns)
    )
    assert profile.prediction is not None and profile.prediction.categories == ["0", "1"]
    # the profile is recorded beside the model, never as a version of its own
    assert [v.version_label for v in list_versions("dev", model_name)] == ["v1"]


def test_models_show_prints_the_profile_and_the_lineage(
    titanic_tables, titanic_train, titanic_model, model_name
):
    x, y = titanic_train
    log_and_wait(
        titanic_model, model_name, x, y, training_table=f"SELECT * FROM `{titanic_tables['train']}`"
    )
    if not app.registered_groups:
        _register()
    result = CliRunner().invoke(app, ["models", "show", model_name, "v1", "--env", "dev"])
    assert result.exit_code == 0, result.output
    assert "training_query: SELECT * FROM" in result.output and "git_commit" in result.output
    assert "profile: profile.json" in result.output and f"{len(x):,} training rows" in result.output
    for feature in x.columns:
        assert feature in result.output


def test_concurrent_calls_claim_different_versions(titanic_train, titanic_model, model_name):
    x, y = titanic_train

    def one(i: int) -> int:
        return log_model(titanic_model, model_name, X=x, y=y, description=f"call {i}", env="dev")

    with ThreadPoolExecutor(4) as pool:
        versions = list(pool.map(one, range(4)))
    assert sorted(versions) == [1, 2, 3, 4]
    for i, version in enumerate(versions):  # each number holds the metadata of its own call
        meta = json.loads(gcs_get(BUCKET, f"{model_name}/v{version}/metadata.json"))
        assert meta["description"] == f"call {i}"
        assert wait_for_version("dev", model_name, version, timeout=60).description == f"call {i}"


def test_a_version_uploaded_by_hand_has_no_profile(titanic_model, model_name):
    gcs_put_pickle(titanic_model, BUCKET, f"{model_name}/v1/model.pkl")
    mv = wait_for_version("dev", model_name, 1, timeout=60)
    assert not mv.has_profile and load_reference(mv, env="dev") is None


def test_losing_the_race_for_the_model_file_removes_the_half_written_version(
    titanic_train, titanic_model, model_name, monkeypatch
):
    x, y = titanic_train
    # Another uploader wrote v1/model.pkl by hand (no metadata claim) after log_model chose v1:
    # the window is simulated by fixing the number log_model starts from.
    gcs_put(b"someone else's model", BUCKET, f"{model_name}/v1/model.pkl")
    monkeypatch.setattr("mlsys.upload.next_version", lambda *a, **k: 1)
    with pytest.raises(Conflict, match="appeared meanwhile"):
        log_model(titanic_model, model_name, X=x, y=y, env="dev")
    names = [b.name for b in gcs_list_blobs(BUCKET, prefix=f"{model_name}/")]
    assert names == [f"{model_name}/v1/model.pkl"]  # its metadata and profile were removed
    assert gcs_get(BUCKET, f"{model_name}/v1/model.pkl") == b"someone else's model"
    wait_until(lambda: not get_version("dev", model_name, 1).has_profile)
    assert get_version("dev", model_name, 1).metadata is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"X": [[1, 2]]}, "X must be a pandas DataFrame"),
        ({"y": [1, 2, 3]}, "same rows"),
        ({"training_table": "not a table"}, "expected project.dataset.table or a SELECT"),
        ({"env": "qa"}, "unknown environment"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_uploaded(
    stack, titanic_model, kwargs, message
):
    args = {"X": pd.DataFrame({"a": [1.0, 2.0]}), "y": [0, 1], "env": "dev", **kwargs}
    with pytest.raises(InvalidInput, match=message):
        log_model(titanic_model, "never-uploaded", **args)
    assert not gcs_list_blobs(BUCKET, prefix="never-uploaded/")
