"""Promotion as the promoter of the target environment (``promoter@staging``,
``promoter@prod``), in its own process, as promote-model.yml runs it: exactly the Terraform's
"read on the source, write on the target" grants are enough, and no more is given."""

from __future__ import annotations

import os
import subprocess
import sys

import yaml

from mlsys.bq import bq_get, bq_put
from mlsys.registry import wait_for_version
from tests.conftest import ROOT
from tests.promote.helpers import upload


def promote_as(identity: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MLSYS_LOCAL_IDENTITY": identity}
    return subprocess.run(
        [sys.executable, "-m", "mlsys", "promote", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_each_promoter_promotes_into_its_environment(
    stack, settings, training_table, model_bytes, features, tmp_path, unique
):
    name = f"as-promoter-{unique}"
    meta = {
        "features": features,
        "target": "Survived",
        "training_data": training_table,  # in dev: prod's promoter may not read it
        "metrics": {"accuracy": 0.85},
    }
    upload(model_bytes, name, 1, metadata=meta)
    config = tmp_path / "promotion.yaml"
    gates = {"metrics": {"accuracy": ">= 0.8"}, "sample_rows": 20}
    config.write_text(yaml.safe_dump({name: gates}))
    staged = promote_as(
        "promoter@staging", name, "v1", "--from", "dev", "--to", "staging", "--config", str(config)
    )
    assert staged.returncode == 0, staged.stdout + staged.stderr
    assert wait_for_version("staging", name, 1, timeout=60).artifact_uri == (
        f"gs://mlsys-models-staging/{name}/v1/model.pkl"
    )
    to_prod = (name, "v1", "--from", "staging", "--to", "prod", "--config", str(config))
    refused = promote_as("promoter@prod", *to_prod)
    assert refused.returncode != 0
    assert "may not read the sample table" in refused.stdout + refused.stderr
    assert "sample_table" in refused.stdout + refused.stderr
    # A sample in staging, which both promoters may read, as the message says.
    sample = f"{settings.dataset_ref('staging')}.sample_{unique}"
    bq_put(bq_get(f"SELECT * FROM `{training_table}` LIMIT 50"), sample, "WRITE_TRUNCATE")
    config.write_text(yaml.safe_dump({name: {**gates, "sample_table": sample}}))
    promoted = promote_as("promoter@prod", *to_prod)
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert wait_for_version("prod", name, 1, timeout=60).artifact_uri == (
        f"gs://mlsys-models-prod/{name}/v1/model.pkl"
    )


def test_a_promoter_cannot_write_another_environment(
    stack, training_table, model_bytes, features, tmp_path, unique
):
    name = f"wrong-promoter-{unique}"
    meta = {
        "features": features,
        "target": "Survived",
        "training_data": training_table,
        "metrics": {"accuracy": 0.85},
    }
    upload(model_bytes, name, 1, metadata=meta)
    config = tmp_path / "promotion.yaml"
    config.write_text(
        yaml.safe_dump({name: {"metrics": {"accuracy": ">= 0.8"}, "sample_rows": 20}})
    )
    staged = promote_as(
        "promoter@staging", name, "v1", "--from", "dev", "--to", "staging", "--config", str(config)
    )
    assert staged.returncode == 0, staged.stdout + staged.stderr
    args = (name, "v1", "--from", "staging", "--to", "prod", "--config", str(config))
    done = promote_as("promoter@staging", *args)  # staging's promoter, aimed at prod
    assert done.returncode == 2, done.stdout + done.stderr
    assert "PERMISSION_DENIED" in done.stderr, done.stderr
