"""`mlsys demo` end to end on the session's local stack."""

from __future__ import annotations

from rich.console import Console

from mlsys.bq import bq_get
from mlsys.demo import run_demo
from mlsys.gcs import gcs_get


def test_demo_loads_trains_uploads_and_reads_back(stack, settings):
    console = Console(record=True, width=120)
    # The session stack is already up (and exported), so the demo must not start another.
    summary = run_demo(console, start_stack=False)
    assert summary["roundtrip_identical"]
    assert summary["cv_accuracy"] > 0.7
    project, dataset = settings.gcp_project_id, settings.dataset_for("dev")
    n = bq_get(f"SELECT COUNT(*) AS n FROM `{project}.{dataset}.titanic`")["n"].iloc[0]
    m = bq_get(f"SELECT COUNT(*) AS n FROM `{project}.{dataset}.titanic_test`")["n"].iloc[0]
    assert n + m == 891
    cols = bq_get(f"SELECT * FROM `{project}.{dataset}.titanic_test` LIMIT 1").columns
    assert "Survived" not in cols
    assert b'"features"' in gcs_get(summary["bucket"], f"{summary['prefix']}/metadata.json")
    assert "uploaded" in console.export_text()
