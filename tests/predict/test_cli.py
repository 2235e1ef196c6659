"""``mlsys predict``: the same pipeline from the command line, with a progress bar."""

from __future__ import annotations

from sklearn.ensemble import RandomForestClassifier
from typer.testing import CliRunner

from mlsys.bq import bq_get
from mlsys.cli import _register, app
from tests.predict.helpers import numeric_frame, publish


def test_cli_predicts_with_progress_and_reports_errors(numeric_table, dev_dataset, unique):
    x = numeric_frame(100, seed=5)[["f0", "f1", "f2", "f3"]]
    mv = publish(RandomForestClassifier(n_estimators=3).fit(x, x["f0"] > 0.5))
    _register()
    out = f"{dev_dataset}.cli_{unique}"
    args = ["predict", "--env", "dev", "--input", numeric_table[0], "--output", out]
    result = CliRunner().invoke(app, [*args, "--model", mv.model_name, "--version", "v1"])
    assert result.exit_code == 0, result.output
    assert "200/200" in result.output and "200 rows" in result.output
    assert bq_get(f"SELECT COUNT(*) AS n FROM `{out}`")["n"].iloc[0] == 200
    missing = CliRunner().invoke(app, [*args, "--model", mv.model_name, "--version", "v7"])
    assert missing.exit_code != 0
    assert "v7" in str(missing.exception)
