"""The seed's own notebook (tests/seed/, a copy of the notebook existing users have) runs on the
local stack with mlsys as it is, its model registers with its metadata.json, and the shipped
promotion.yaml lets it pass a dry-run promotion to staging.

Two adaptations, both outside the seed's mlsys contract: the data-loading cell reads
notebooks/data/titanic.csv (the seed calls fetch_openml, which needs the network; its exploration
cells expect OpenML's lower-case columns, so they are not run), and the hard-coded version
"v2" becomes the next free version (the session's stack is shared with other tests that upload
titanic-survival versions, and versions are immutable).
"""

from __future__ import annotations

import nbformat
from nbclient import NotebookClient
from typer.testing import CliRunner

from mlsys.cli import _register, app
from mlsys.demo import next_version
from mlsys.registry import get_version, wait_for_version
from tests.conftest import ROOT
from tests.promote.helpers import load_titanic_tables
from tests.registry.conftest import wait_until

SEED = ROOT / "tests" / "seed" / "titanic-survival-example.ipynb"
CSV = ROOT / "notebooks" / "data" / "titanic.csv"
MODEL = "titanic-survival"
SEED_FEATURES = ["Pclass", "Sex", "Age", "SibSp", "Parch", "Fare"]


def seed_notebook(version: int) -> nbformat.NotebookNode:
    """The setup cell, local data instead of fetch_openml, then every cell from feature_cols."""
    nb = nbformat.read(SEED, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    setup = code[0]
    assert "from mlsys.vis import setup_plot_style" in setup.source
    start = next(i for i, c in enumerate(nb.cells) if c.source.startswith("feature_cols = "))
    rest = nb.cells[start:]
    (naming,) = [c for c in rest if 'MODEL_VERSION = "v2"' in c.source]
    naming.source = naming.source.replace('MODEL_VERSION = "v2"', f'MODEL_VERSION = "v{version}"')
    data = nbformat.v4.new_code_cell(f"df = pd.read_csv({str(CSV)!r})")
    nb.cells = [setup, data, *rest]
    return nb


def test_seed_notebook_registers_and_passes_a_dry_run_promotion(stack, settings, tmp_path):
    load_titanic_tables()  # what `mlsys demo` loads: mlsys_dev.titanic, the smoke sample
    version = next_version(settings.bucket_for("dev"), MODEL)
    nb = seed_notebook(version)
    NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()

    wait_for_version("dev", MODEL, version, timeout=60)
    # The seed uploads the model first, then metadata.json: it joins when its event arrives.
    registered = wait_until(lambda: (v := get_version("dev", MODEL, version)).metadata and v)
    assert registered.metadata_error is None
    assert registered.features == [{"name": name} for name in SEED_FEATURES]
    assert set(registered.metrics) == {"test_accuracy", "test_roc_auc"}
    assert registered.metrics["test_accuracy"] >= 0.78
    metadata = registered.metadata or {}
    assert metadata["model_version"] == f"v{version}" and metadata["test_samples"] > 0
    assert metadata["hyperparameters"]["n_estimators"] == 100  # the seed's keys are kept

    if not app.registered_groups:
        _register()
    result = CliRunner().invoke(
        app, ["promote", MODEL, f"v{version}", "--from", "dev", "--to", "staging", "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    # a dry run exits non-zero when any gate fails; every gate ran and passed
    assert "dry-run" in result.output
    assert "FAIL" not in result.output and "skip" not in result.output
