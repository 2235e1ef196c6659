"""The example notebook runs headless top to bottom on the local stack and registers its model:
in a Jupyter kernel (nbclient, as `jupyter execute` does) and as a plain Python script."""

from __future__ import annotations

import os
import subprocess
import sys

import nbformat
from nbclient import NotebookClient

from mlsys.demo import next_version
from mlsys.examples import titanic
from mlsys.promote import load_config, promote
from mlsys.registry import get_version
from tests.conftest import ROOT
from tests.promote.helpers import load_titanic_tables

NOTEBOOK = ROOT / "notebooks" / "titanic-survival-example.ipynb"


def test_notebook_registers_the_next_version_and_it_promotes_to_staging(stack, settings):
    training_table = load_titanic_tables()
    expected = next_version(settings.bucket_for("dev"), titanic.MODEL_NAME)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # The kernel inherits this process's environment (the session stack's endpoints).
    client = NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()

    registered = get_version("dev", titanic.MODEL_NAME, expected)
    metadata = registered.metadata or {}
    assert metadata["training_data"] == training_table
    assert metadata["target"] == titanic.TARGET
    assert [f["name"] for f in registered.features or []] == titanic.FEATURES
    assert set(metadata["feature_stats"]) == set(titanic.FEATURES)
    assert {"scikit-learn", "pandas", "python"} <= set(metadata["library_versions"])
    # One meaning per metric key: hold-out metrics are test_*, cross-validation cv_*.
    assert set(registered.metrics) == {"test_accuracy", "test_roc_auc", "test_f1", "cv_accuracy"}
    assert registered.metrics["test_accuracy"] >= 0.78
    printed = "".join(out.get("text", "") for cell in nb.cells for out in cell.get("outputs", []))
    assert f"registered {titanic.MODEL_NAME} v{expected} in dev" in printed

    # The repo's own promotion.yaml lets it through to staging.
    result = promote(
        titanic.MODEL_NAME, expected, from_env="dev", to_env="staging", config=load_config()
    )
    assert result.outcome == "promoted", result.message
    assert get_version("staging", titanic.MODEL_NAME, "champion").model_version == expected


def test_notebook_runs_as_a_plain_python_script(stack, settings, tmp_path):
    # What `jupyter nbconvert --to script` gives: the code cells in order. An IPython magic
    # (`%matplotlib inline`) would be a SyntaxError here.
    load_titanic_tables()
    expected = next_version(settings.bucket_for("dev"), titanic.MODEL_NAME)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    script = tmp_path / "titanic_survival_example.py"
    script.write_text("\n\n".join(c.source for c in nb.cells if c.cell_type == "code"))
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=NOTEBOOK.parent,
        env=dict(os.environ),  # the session stack's endpoints
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"registered {titanic.MODEL_NAME} v{expected} in dev" in done.stdout
    assert get_version("dev", titanic.MODEL_NAME, expected).metrics["test_accuracy"] >= 0.78
