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
    # registered by itself through the event path, with its metadata parsed
    assert summary["registered"].version_label == f"v{summary['version']}"
    assert summary["registered"].metrics["cv_accuracy"] == round(summary["cv_accuracy"], 4)
    assert summary["cv_accuracy"] > 0.7
    # one meaning per metric key: no bare "accuracy", the hold-out one is what promotion gates
    assert summary["registered"].metrics == {
        "cv_accuracy": round(summary["cv_accuracy"], 4),
        "test_accuracy": round(summary["test_accuracy"], 4),
    }
    assert summary["test_accuracy"] >= 0.78
    project, dataset = settings.project_for("dev"), settings.dataset_for("dev")
    n = bq_get(f"SELECT COUNT(*) AS n FROM `{project}.{dataset}.titanic`")["n"].iloc[0]
    m = bq_get(f"SELECT COUNT(*) AS n FROM `{project}.{dataset}.titanic_test`")["n"].iloc[0]
    assert n + m == 891
    cols = bq_get(f"SELECT * FROM `{project}.{dataset}.titanic_test` LIMIT 1").columns
    assert "Survived" not in cols
    assert b'"features"' in gcs_get(summary["bucket"], f"{summary['prefix']}/metadata.json")
    text = console.export_text()
    assert "registered by itself" in text
    # logged with mlsys.log_model: a reference profile, so the shifted copy raises a drift alert
    assert summary["registered"].has_profile
    drifted = summary["drifted"]
    assert drifted["drift_status"] == "alert"
    assert {r.feature for r in drifted["drift"] if r.status == "alert"} >= {"Age", "Fare"}
    assert {r.status for r in drifted["drift"] if r.feature in ("Sex", "Pclass")} == {"ok"}
    assert summary["predictions"]["drift_status"] == "ok"
    assert f"{settings.service_url}/ui/models/titanic-survival" in text
