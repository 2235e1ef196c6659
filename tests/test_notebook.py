"""The example notebook runs headless top to bottom on the local stack and registers its model."""

from __future__ import annotations

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
    assert registered.metrics["accuracy"] >= 0.78
    printed = "".join(out.get("text", "") for cell in nb.cells for out in cell.get("outputs", []))
    assert f"registered {titanic.MODEL_NAME} v{expected} in dev" in printed

    # The repo's own promotion.yaml lets it through to staging.
    result = promote(
        titanic.MODEL_NAME, expected, from_env="dev", to_env="staging", config=load_config()
    )
    assert result.outcome == "promoted", result.message
    assert get_version("staging", titanic.MODEL_NAME, "champion").model_version == expected
