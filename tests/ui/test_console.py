"""The web console in a real browser (headless Chromium) on the demo's data: every page loads
with no console error, charts are drawn, links lead from page to page."""

from __future__ import annotations

import re

import pytest


def pages(d: dict) -> list[str]:
    model, version = d["model"], d["version"]
    return [
        "/ui/models?env=dev",
        f"/ui/models/{model}?env=dev",
        f"/ui/models/{model}/versions/v{version}?env=dev",
        f"/ui/models/{model}/versions/v{d['challenger']}?env=dev",
        "/ui/jobs?env=dev",
        f"/ui/jobs?env=dev&model={model}",
        f"/ui/jobs/{d['test_job']}?env=dev",
        f"/ui/jobs/{d['shifted_job']}?env=dev",
        f"/ui/jobs/{d['shadow_job']}?env=dev",
        "/ui/models?env=prod",
        "/ui/jobs?env=staging",
    ]


def test_every_page_loads_without_a_console_error(tab, demo_data):
    for path in pages(demo_data):
        tab.open(path)
        assert tab.page.locator("main h1").count() == 1, path
        assert tab.errors == [], f"{path}: {tab.errors}"


def test_a_job_on_shifted_data_draws_its_drift_charts(tab, demo_data):
    tab.open(f"/ui/jobs/{demo_data['shifted_job']}?env=dev")
    assert "alert" in tab.page.locator("main .panel dd .badge").first.inner_text()
    charts = tab.page.locator("svg.chart")
    assert charts.count() >= 8  # one per feature and one for the predictions
    box = charts.first.bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 100
    bars = tab.page.locator("svg.chart rect.bar")
    assert bars.count() > 20 and bars.first.bounding_box()["height"] > 0
    alerts = tab.page.locator("table tr:has(.badge.alert) td:first-child").all_inner_texts()
    assert {"Age", "Fare"} <= set(alerts)
    assert tab.errors == []


def test_the_model_page_draws_drift_over_time_and_lists_the_shadow_job(tab, demo_data):
    tab.open(f"/ui/models/{demo_data['model']}?env=dev")
    assert tab.page.locator("svg.chart polyline.series, svg.chart circle.point").count() > 0
    shadow_rows = tab.page.locator(f"tr:has(a[href^='/ui/jobs/{demo_data['shadow_job']}'])")
    assert shadow_rows.count() >= 1
    assert tab.errors == []


def test_links_lead_from_the_models_to_a_version_a_job_and_back(tab, demo_data):
    model, version = demo_data["model"], demo_data["version"]
    tab.open("/ui/models?env=dev")
    tab.page.click(f"a[href='/ui/models/{model}?env=dev']")
    tab.page.wait_for_url(re.compile(rf"/ui/models/{model}\?env=dev$"))
    tab.page.click(f"a[href='/ui/models/{model}/versions/v{version}?env=dev']")
    tab.page.wait_for_url(re.compile(rf"/versions/v{version}\?env=dev$"))
    assert tab.page.locator("svg.chart").count() >= 8  # the reference profile's histograms
    assert "training_table" in tab.page.locator("main").inner_text()
    tab.page.click(f"a[href='/ui/jobs/{demo_data['shifted_job']}?env=dev']")
    tab.page.wait_for_url(re.compile(rf"/ui/jobs/{demo_data['shifted_job']}"))
    tab.page.click("p.crumbs a")
    tab.page.wait_for_url(re.compile(r"/ui/jobs\?env=dev$"))
    tab.page.click("header a.env:text('staging')")
    tab.page.wait_for_url(re.compile(r"/ui/jobs\?env=staging$"))
    assert tab.errors == []


@pytest.mark.parametrize(
    ("path", "status", "text"),
    [
        ("/ui/models/no-such-model?env=dev", 404, "MODEL_NOT_FOUND"),
        ("/ui/jobs/no-such-job?env=dev", 404, "JOB_NOT_FOUND"),
        ("/ui/models?env=qa", 400, "INVALID_ENVIRONMENT"),
    ],
)
def test_errors_are_pages_of_the_console(tab, demo_data, path, status, text):
    response = tab.page.goto(f"{tab.base_url}{path}")
    assert response is not None and response.status == status
    assert text in tab.page.locator("main").inner_text()
