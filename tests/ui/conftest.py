"""Browser fixtures: Debian's headless Chromium driven by Playwright (no browser download:
``executable_path``), and the demo's data on the session's local stack.

Chromium comes from apt (``apt-get install -y chromium``; .ci/run installs it when missing).
Without it these tests fail, they are never skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

# ``browser`` (one headless Chromium per session) is the shared fixture of tests/browser.py:
# two sync Playwright instances cannot run in one process.


class ConsolePage:
    """A browser tab that remembers every console error and uncaught page error."""

    def __init__(self, page: Any, base_url: str) -> None:
        self.page = page
        # The pages read BigQuery: on a shared, loaded machine the emulator can take a while.
        page.set_default_timeout(90_000)
        page.set_default_navigation_timeout(90_000)
        self.base_url = base_url
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on(
            "response",
            lambda r: self.errors.append(f"{r.status} {r.url}") if r.status >= 400 else None,
        )

    def open(self, path: str) -> Any:
        response = self.page.goto(f"{self.base_url}{path}", wait_until="load")
        assert response is not None and response.status == 200, (
            f"{path}: {response and response.status}"
        )
        return response


@pytest.fixture
def tab(browser, stack) -> Iterator[ConsolePage]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield ConsolePage(context.new_page(), stack.env["MLSYS_SERVICE_URL"])
    context.close()


def make_demo_data() -> dict[str, Any]:
    """Run the demo (its jobs on titanic_test and the shifted copy), then a shadow job of a
    second version beside it: what the console shows."""
    from rich.console import Console
    from sklearn.ensemble import RandomForestClassifier

    from mlsys.demo import run_demo
    from mlsys.examples import titanic
    from mlsys.predict import run_prediction
    from mlsys.registry import wait_for_version
    from mlsys.settings import get_settings
    from mlsys.upload import log_model

    summary = run_demo(Console(record=True, width=120), start_stack=False)
    settings = get_settings()
    dataset = settings.dataset_ref("dev")
    train, _ = titanic.split(titanic.load_csv())
    x, y = train[titanic.FEATURES], train[titanic.TARGET]
    cols = ["Pclass", "SibSp", "Parch", "Fare"]
    forest = RandomForestClassifier(n_estimators=20, max_depth=4, random_state=0).fit(x[cols], y)
    challenger = log_model(
        forest,
        titanic.MODEL_NAME,
        X=x[cols],
        y=y,
        metrics={"accuracy": 0.7},
        description="Titanic survival: a small forest on four columns (challenger)",
        tags=["demo", "challenger"],
        env="dev",
        training_table=f"{dataset}.titanic",
    )
    wait_for_version("dev", titanic.MODEL_NAME, challenger, timeout=60)
    shadow = run_prediction(
        env="dev",
        input_table=f"{dataset}.titanic_test",
        output_table=f"{settings.predictions_dataset_ref('dev')}.titanic_predictions",
        model_name=titanic.MODEL_NAME,
        model_version=f"v{summary['version']}",
        id_columns=["PassengerId", "Name"],
        write_disposition="truncate",
        shadow_version=f"v{challenger}",
    )
    return {
        "model": titanic.MODEL_NAME,
        "version": summary["version"],
        "challenger": challenger,
        "test_job": summary["predictions"]["job_id"],
        "shifted_job": summary["drifted"]["job_id"],
        "shadow_job": shadow.job_id,
        "console_url": summary["console_url"],
    }


@pytest.fixture(scope="session")
def demo_data(stack) -> dict[str, Any]:
    return make_demo_data()
