"""The end-to-end demo behind ``mlsys demo``, on the local stack."""

from __future__ import annotations

import platform
import time
from typing import TYPE_CHECKING, Any

from rich.console import Console
from sklearn.metrics import accuracy_score
from sklearn.model_selection import cross_val_score

from mlsys.bq import bq_get, bq_put
from mlsys.examples import titanic
from mlsys.gcs import gcs_get, gcs_get_pickle
from mlsys.local.stack import LocalStack
from mlsys.registry import wait_for_version
from mlsys.settings import get_settings, reset_settings
from mlsys.upload import log_model, next_version

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["next_version", "run_demo"]  # next_version: kept importable from here

#: The demo's copy of titanic_test with shifted Age and Fare: its job raises a drift alert.
SHIFTED_TABLE = "titanic_test_shifted"


def ensure_local_stack(console: Console) -> None:
    """Reuse a running local stack or start one (left running for you to explore)."""
    stack = LocalStack()
    if stack.is_running():
        console.print(f"[green]✓[/] local stack already running ({stack.env_file})")
    else:
        with console.status("starting the local stack (emulators, function, service)..."):
            info = stack.up()
        console.print(
            f"[green]✓[/] local stack up in {info.startup_seconds:.1f}s "
            f"(stop it with `mlsys local down`)"
        )
    reset_settings()


def run_demo(console: Console, *, start_stack: bool = True) -> dict[str, Any]:
    """Load Titanic to BigQuery, train, upload with metadata, read back; returns a summary.

    ``start_stack=False`` uses whatever the settings point at (e.g. a test session's stack).
    """
    if start_stack:
        ensure_local_stack(console)
    settings = get_settings()
    project, dataset = settings.project_for("dev"), settings.dataset_for("dev")
    bucket = settings.bucket_for("dev")

    df = titanic.load_csv()
    train, test = titanic.split(df)
    unlabeled = test.drop(columns=[titanic.TARGET])
    bq_put(train, f"{project}.{dataset}.titanic", "WRITE_TRUNCATE")
    bq_put(unlabeled, f"{project}.{dataset}.titanic_test", "WRITE_TRUNCATE")
    bq_put(shifted(unlabeled), f"{project}.{dataset}.{SHIFTED_TABLE}", "WRITE_TRUNCATE")
    console.print(
        f"[green]✓[/] loaded {len(train)} rows into [cyan]{project}.{dataset}.titanic[/]"
        f", {len(test)} unlabeled rows into [cyan]{dataset}.titanic_test[/] and a shifted copy"
        f" into [cyan]{dataset}.{SHIFTED_TABLE}[/]"
    )

    model = titanic.build_pipeline()
    x, y = train[titanic.FEATURES], train[titanic.TARGET]
    cv_accuracy = float(cross_val_score(titanic.build_pipeline(), x, y, cv=5).mean())
    model.fit(x, y)
    # The test rows are loaded unlabeled for prediction, but their labels are known here.
    test_accuracy = float(accuracy_score(test[titanic.TARGET], model.predict(test[x.columns])))
    console.print(
        f"[green]✓[/] trained a scikit-learn Pipeline (5-fold cv_accuracy {cv_accuracy:.3f}, "
        f"test_accuracy {test_accuracy:.3f} on the {len(test)} held-out rows)"
    )

    uploaded = time.monotonic()
    version = log_model(
        model,
        titanic.MODEL_NAME,
        X=x,
        y=y,
        # One meaning per key (docs/registry.md): cv_ = 5-fold mean on the training rows,
        # test_ = the held-out rows (what promotion.yaml gates on).
        metrics={"cv_accuracy": round(cv_accuracy, 4), "test_accuracy": round(test_accuracy, 4)},
        description="Titanic survival: logistic regression on raw passenger columns",
        tags=["demo", "titanic", "classification"],
        env="dev",
        training_table=f"{project}.{dataset}.titanic",
        metadata={
            "created_by": f"mlsys demo on {platform.node()}",
            "params": {"classifier": "LogisticRegression", "max_iter": 1000},
        },
    )
    prefix = f"{titanic.MODEL_NAME}/v{version}"
    size = len(gcs_get(bucket, f"{prefix}/model.pkl"))
    console.print(
        f"[green]✓[/] mlsys.log_model uploaded [cyan]gs://{bucket}/{prefix}/model.pkl[/] "
        f"({size:,} bytes) with metadata.json (lineage) and profile.json (reference profile)"
    )

    registered = wait_for_version("dev", titanic.MODEL_NAME, version, timeout=60)
    console.print(
        f"[green]✓[/] registered by itself in [cyan]{dataset}.model_registry[/] "
        f"{time.monotonic() - uploaded:.1f}s after the upload (GCS event → function): "
        f"{registered.version_label}, sha256 {(registered.sha256 or '-')[:12]}…, "
        f"metrics {registered.metrics}, profile {registered.has_profile}"
    )

    restored = gcs_get_pickle(bucket, f"{prefix}/model.pkl")
    same = bool((restored.predict(x) == model.predict(x)).all())
    accuracy = float(accuracy_score(y, restored.predict(x)))
    console.print(
        f"[green]✓[/] read the model back: predictions identical={same}, "
        f"training accuracy {accuracy:.3f}"
    )
    predictions = predict_titanic_test(console, version)
    drifted = predict_shifted(console, version)
    url = f"{settings.service_url}/ui/models/{titanic.MODEL_NAME}?env=dev"
    console.print(f"console: [bold cyan]{url}[/] (models, jobs, drift, shadow comparisons)")
    console.print(
        f"next: [bold]uv run mlsys models show {titanic.MODEL_NAME} v{version}[/], "
        f"[bold]uv run mlsys monitor {titanic.MODEL_NAME} --env dev[/], "
        f"[bold]uv run mlsys promote {titanic.MODEL_NAME} v{version} --from dev --to staging[/]"
    )
    return {
        "version": version,
        "predictions": predictions,
        "drifted": drifted,
        "console_url": url,
        "registered": registered,
        "bucket": bucket,
        "prefix": prefix,
        "uploaded_at": uploaded,
        "roundtrip_identical": same,
        "cv_accuracy": cv_accuracy,
        "test_accuracy": test_accuracy,
    }


def _predict(body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Run a prediction job through the running service (else in-process); its JSON record."""
    import httpx

    settings = get_settings()
    if settings.service_url:
        response = httpx.post(f"{settings.service_url}/predict", json=body, timeout=120)
        if response.status_code != 200:
            raise RuntimeError(f"POST /predict answered {response.status_code}: {response.text}")
        return response.json(), f"POST {settings.service_url}/predict"
    from mlsys.predict import run_prediction  # no service running: the same pipeline here

    return run_prediction(**body).__dict__, "mlsys.predict.run_prediction"


def shifted(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of the passengers twenty years older who paid three times the fare: what the
    model would see if the data feeding it changed (the other columns are left as they are)."""
    out = frame.copy()
    out["Age"] = out["Age"] + 20
    out["Fare"] = out["Fare"] * 3
    return out


def predict_shifted(console: Console, version: int) -> dict[str, Any]:
    """Predict the shifted copy and show the drift alert its job raised."""
    from rich.table import Table

    from mlsys.monitoring.store import job_drift, worst_status

    settings = get_settings()
    dataset = settings.dataset_for("dev")
    body: dict[str, Any] = {
        "env": "dev",
        "input_table": f"{settings.dataset_ref('dev')}.{SHIFTED_TABLE}",
        "output_table": f"{settings.predictions_dataset_ref('dev')}.{SHIFTED_TABLE}_predictions",
        "model_name": titanic.MODEL_NAME,
        "model_version": f"v{version}",
        "id_columns": ["PassengerId"],
        "write_disposition": "truncate",
    }
    job, _ = _predict(body)
    drift = job_drift("dev", job["job_id"])
    status = worst_status(drift)
    style = {"alert": "bold red", "warn": "yellow"}.get(status or "", "green")
    console.print(
        f"[{style}]![/] predicted [cyan]{dataset}.{SHIFTED_TABLE}[/] (job {job['job_id']}): "
        f"drift [{style}]{status}[/]"
    )
    table = Table("feature", "PSI", "JS distance", "null rate (ref)", "status")
    for row in drift:
        row_style = {"alert": "bold red", "warn": "yellow"}.get(row.status, "green")
        table.add_row(
            row.feature,
            "-" if row.psi is None else f"{row.psi:.3f}",
            "-" if row.js_distance is None else f"{row.js_distance:.3f}",
            f"{row.null_rate or 0:.1%} ({row.reference_null_rate or 0:.1%})",
            f"[{row_style}]{row.status}[/]",
        )
    console.print(table)
    return {**job, "drift": drift, "drift_status": status}


def predict_titanic_test(console: Console, version: int) -> dict[str, Any]:
    """Predict ``titanic_test`` with ``version`` through the running service; show a few rows."""
    from rich.table import Table

    settings = get_settings()
    project, dataset = settings.project_for("dev"), settings.dataset_for("dev")
    # Outputs go to the predictions dataset: the service may write there, never in the registry.
    output = f"{settings.predictions_dataset_ref('dev')}.titanic_predictions"
    body: dict[str, Any] = {
        "env": "dev",
        "input_table": f"{project}.{dataset}.titanic_test",
        "output_table": output,
        "model_name": titanic.MODEL_NAME,
        "model_version": f"v{version}",
        "id_columns": ["PassengerId", "Name"],
        "write_disposition": "truncate",
    }
    job, via = _predict(body)
    console.print(
        f"[green]✓[/] predicted {job['rows_written']} rows of [cyan]{dataset}.titanic_test[/] "
        f"with v{version} ({via}, job {job['job_id']}) into [cyan]{output}[/]"
    )
    rows = bq_get(
        f"SELECT PassengerId, Name, prediction, probability, model_version FROM `{output}` "
        "ORDER BY PassengerId LIMIT 5"
    )
    table = Table("PassengerId", "Name", "prediction", "probability", "model_version")
    for row in rows.itertuples(index=False):
        table.add_row(
            str(row.PassengerId),
            str(row.Name)[:40],
            str(row.prediction),
            f"{row.probability:.3f}",
            str(row.model_version),
        )
    console.print(table)
    return job
