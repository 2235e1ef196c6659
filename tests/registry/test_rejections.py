"""Honest upload feedback: a refused upload is visible in the wait helper, the CLI and the API,
with the function's reason, within seconds (through the real event path on the local stack)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from mlsys import audit
from mlsys.cli import _register, app
from mlsys.errors import UploadRejected
from mlsys.gcs import gcs_put, gcs_put_pickle
from mlsys.registry import wait_for_version

BUCKET = "mlsys-models-dev"


@pytest.fixture(scope="module", autouse=True)
def commands():
    if not app.registered_groups:
        _register()


@pytest.mark.parametrize(
    "path, reason",
    [
        (
            "{m}/v1/model.pickle",
            "rejected: unknown file 'model.pickle' in '{m}/v1/model.pickle': "
            "expected model.pkl, model.joblib",
        ),
        # the model name does not parse: found by object name, ignoring case
        ("{M}/v1/model.pkl", "rejected: invalid model name '{M}'"),
        ("{m}/V1/model.pkl", "rejected: invalid version folder 'V1'"),
    ],
)
def test_wait_for_version_raises_the_rejection_reason(stack, unique, path, reason):
    model = f"iris-{unique}"
    names = {"m": model, "M": model.capitalize()}
    gcs_put_pickle({"w": 1}, BUCKET, path.format(**names))
    with pytest.raises(UploadRejected) as caught:
        wait_for_version("dev", model, 1, timeout=30)  # a timeout would be VersionNotFound
    assert caught.value.message.startswith(reason.format(**names))
    assert caught.value.details["objects"] == [f"gs://{BUCKET}/{path.format(**names)}"]


def test_an_old_rejection_never_hides_a_correct_upload(stack, unique):
    model = f"retry-{unique}"
    gcs_put(b"first try", BUCKET, f"{model}/v1/model.pickle")
    with pytest.raises(UploadRejected):
        wait_for_version("dev", model, 1, timeout=30)
    # right after the fix is uploaded its event may not be processed yet: keep waiting for it
    gcs_put(b"second try", BUCKET, f"{model}/v1/model.pkl")
    assert wait_for_version("dev", model, 1, timeout=30).object_name == f"{model}/v1/model.pkl"


def test_rejections_in_the_cli_the_api_and_the_audit_trail(stack, unique):
    model = f"seen-{unique}"
    gcs_put(b"x", BUCKET, f"{model}/v1/model.pickle")
    with pytest.raises(UploadRejected):
        wait_for_version("dev", model, 1, timeout=30)

    result = CliRunner().invoke(
        app, ["models", "list", "--rejected", "--search", model, "--env", "dev", "--json"]
    )
    assert result.exit_code == 0, result.output
    (cli_row,) = json.loads(result.output)
    assert cli_row["object_name"] == f"{model}/v1/model.pickle"
    assert "unknown file 'model.pickle'" in cli_row["reason"]
    table = CliRunner().invoke(app, ["models", "list", "--rejected", "--search", model])
    assert table.exit_code == 0 and "unknown file" in table.output
    objects = "".join(line.split("│")[2].strip() for line in table.output.splitlines()[4:-1])
    assert objects == f"{model}/v1/model.pickle"  # wrapped over lines, never cut
    # a sync has nothing to append for it, and says where the refusals are
    sync = CliRunner().invoke(app, ["registry", "sync", "--env", "dev"])
    assert sync.exit_code == 0, sync.output
    assert "were rejected" in sync.output and "models list --rejected" in sync.output

    from service.main import create_app

    client = TestClient(create_app())
    response = client.get("/models/rejections", params={"env": "dev", "search": model})
    assert response.status_code == 200, response.text  # not taken for a model named rejections
    assert [r["object_name"] for r in response.json()] == [cli_row["object_name"]]
    assert response.json()[0]["reason"] == cli_row["reason"]
    assert client.get("/models/rejections", params={"limit": 0}).status_code == 400

    # the file sat in a valid {model}/v{N}/ folder: the refusal is in the model's audit trail
    (entry,) = audit.history(model, env="dev", actions=("reject",))
    assert entry.model_version == 1 and "unknown file" in (entry.details or "")
