"""The other supported layout: every environment in ONE project (``GCP_PROJECT_ID`` only).

A second, complete local stack runs with ``layout="single"``; a separate Python process (its
settings come from that stack's local.env, as a user's would) uploads a model, lets the real
function register it, promotes it dev -> staging and reads the history.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from mlsys.local.stack import SINGLE_PROJECT, LocalStack
from tests.conftest import ROOT

FLOW = textwrap.dedent(
    """
    import io, json, sys
    import joblib
    from mlsys.examples import titanic
    from mlsys.bq import bq_put
    from mlsys.gcs import gcs_put
    from mlsys.promote import parse_config, promote
    from mlsys.promote.lifecycle import model_history
    from mlsys.registry import wait_for_version
    from mlsys.settings import get_settings

    s = get_settings()
    assert {s.project_for(e) for e in ("dev", "staging", "prod")} == {s.gcp_project_id}
    train, _ = titanic.split(titanic.load_csv())
    table = f"{s.dataset_ref('dev')}.titanic"
    bq_put(train, table, "WRITE_TRUNCATE")
    model = titanic.build_pipeline().fit(train[titanic.FEATURES], train[titanic.TARGET])
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    meta = {"metrics": {"accuracy": 0.8}, "features": titanic.feature_schema(train),
            "training_data": table}
    bucket = s.bucket_for("dev")
    gcs_put(json.dumps(meta), bucket, "single-flow/v1/metadata.json")
    gcs_put(buffer.getvalue(), bucket, "single-flow/v1/model.pkl")
    wait_for_version("dev", "single-flow", 1, timeout=60)
    config = parse_config({"single-flow": {"metrics": {"accuracy": ">= 0.7"}, "sample_rows": 20}})
    result = promote("single-flow", "v1", from_env="dev", to_env="staging", config=config)
    history = model_history("single-flow")
    print(json.dumps({
        "outcome": result.outcome,
        "staging": wait_for_version("staging", "single-flow", 1).artifact_uri,
        "envs": sorted({e.environment for e in history.audit}),
        "project": s.gcp_project_id,
    }))
    """
)


@pytest.fixture(scope="module")
def single_stack(tmp_path_factory):
    local = LocalStack(
        root=ROOT, state_dir=tmp_path_factory.mktemp("single-stack"), layout="single"
    )
    info = local.up(owner_pid=os.getpid())
    try:
        yield info
    finally:
        local.down()


def test_single_project_layout_registers_and_promotes(single_stack):
    assert single_stack.env["GCP_PROJECT_ID"] == SINGLE_PROJECT
    assert not any(key.startswith("GCP_PROJECT_ID_") for key in single_stack.env)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GCP_PROJECT_ID", "MLSYS_"))}
    env.update(single_stack.env)
    env.pop("GCP_PROJECT_ID_DEV", None)
    done = subprocess.run(
        [sys.executable, "-c", FLOW],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {
        "outcome": "promoted",
        "staging": "gs://mlsys-models-staging/single-flow/v1/model.pkl",
        "envs": ["dev", "staging"],
        "project": SINGLE_PROJECT,
    }
