"""The end-to-end demo behind ``mlsys demo``, on the local stack."""

from __future__ import annotations

import json
import platform
import time
from typing import Any

import sklearn
from rich.console import Console
from sklearn.metrics import accuracy_score
from sklearn.model_selection import cross_val_score

from mlsys.bq import bq_get, bq_put
from mlsys.examples import titanic
from mlsys.gcs import gcs_get, gcs_get_pickle, gcs_list_blobs, gcs_put, gcs_put_pickle
from mlsys.local.stack import LocalStack
from mlsys.registry import wait_for_version
from mlsys.settings import get_settings, reset_settings


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


def next_version(bucket: str, model_name: str) -> int:
    """The first ``vN`` of ``model_name`` with no object in ``bucket``."""
    taken = set()
    for blob in gcs_list_blobs(bucket, prefix=f"{model_name}/v"):
        part = blob.name.split("/")[1]
        if part[1:].isdigit():
            taken.add(int(part[1:]))
    return max(taken, default=0) + 1


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
    bq_put(train, f"{project}.{dataset}.titanic", "WRITE_TRUNCATE")
    bq_put(
        test.drop(columns=[titanic.TARGET]), f"{project}.{dataset}.titanic_test", "WRITE_TRUNCATE"
    )
    console.print(
        f"[green]✓[/] loaded {len(train)} rows into [cyan]{project}.{dataset}.titanic[/]"
        f" and {len(test)} unlabeled rows into [cyan]{dataset}.titanic_test[/]"
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

    version = next_version(bucket, titanic.MODEL_NAME)
    prefix = f"{titanic.MODEL_NAME}/v{version}"
    metadata = {
        "description": "Titanic survival: logistic regression on raw passenger columns",
        "tags": ["demo", "titanic", "classification"],
        # One meaning per key (docs/registry.md): cv_ = 5-fold mean on the training rows,
        # test_ = the held-out rows (what promotion.yaml gates on).
        "metrics": {"cv_accuracy": round(cv_accuracy, 4), "test_accuracy": round(test_accuracy, 4)},
        "features": titanic.feature_schema(train),
        "target": titanic.TARGET,
        "framework": f"scikit-learn=={sklearn.__version__}",
        "training_data": f"{project}.{dataset}.titanic",
        "created_by": f"mlsys demo on {platform.node()}",
        "params": {"classifier": "LogisticRegression", "max_iter": 1000},
    }
    gcs_put(json.dumps(metadata, indent=2), bucket, f"{prefix}/metadata.json")
    uploaded = time.monotonic()
    gcs_put_pickle(model, bucket, f"{prefix}/model.pkl")
    size = len(gcs_get(bucket, f"{prefix}/model.pkl"))
    console.print(
        f"[green]✓[/] uploaded [cyan]gs://{bucket}/{prefix}/model.pkl[/] ({size:,} bytes)"
        f" and metadata.json"
    )

    registered = wait_for_version("dev", titanic.MODEL_NAME, version, timeout=60)
    console.print(
        f"[green]✓[/] registered by itself in [cyan]{dataset}.model_registry[/] "
        f"{time.monotonic() - uploaded:.1f}s after the upload (GCS event → function): "
        f"{registered.version_label}, sha256 {(registered.sha256 or '-')[:12]}…, "
        f"metrics {registered.metrics}"
    )

    restored = gcs_get_pickle(bucket, f"{prefix}/model.pkl")
    same = bool((restored.predict(x) == model.predict(x)).all())
    accuracy = float(accuracy_score(y, restored.predict(x)))
    console.print(
        f"[green]✓[/] read the model back: predictions identical={same}, "
        f"training accuracy {accuracy:.3f}"
    )
    predictions = predict_titanic_test(console, version)
    console.print(
        f"next: [bold]uv run mlsys models show {titanic.MODEL_NAME}[/], "
        f"[bold]uv run mlsys promote {titanic.MODEL_NAME} v{version} --from dev --to staging[/]"
    )
    return {
        "version": version,
        "predictions": predictions,
        "registered": registered,
        "bucket": bucket,
        "prefix": prefix,
        "uploaded_at": uploaded,
        "roundtrip_identical": same,
        "cv_accuracy": cv_accuracy,
        "test_accuracy": test_accuracy,
    }


def predict_titanic_test(console: Console, version: int) -> dict[str, Any]:
    """Predict ``titanic_test`` with ``version`` through the running service; show a few rows."""
    import httpx
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
    if settings.service_url:
        response = httpx.post(f"{settings.service_url}/predict", json=body, timeout=120)
        if response.status_code != 200:
            raise RuntimeError(f"POST /predict answered {response.status_code}: {response.text}")
        job = response.json()
        via = f"POST {settings.service_url}/predict"
    else:  # no service running: the same pipeline in-process
        from mlsys.predict import run_prediction

        job = run_prediction(**body).__dict__
        via = "mlsys.predict.run_prediction"
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
