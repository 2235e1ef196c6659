"""``/docs`` and ``/redoc`` render in headless Chromium with no network: their assets come from
the service itself, not a CDN."""

from __future__ import annotations

from tests.browser import offline_page
from tests.service.spec import openapi


def operations() -> int:
    return sum(len(ops) for ops in openapi()["paths"].values())


def test_swagger_ui_renders_every_operation_offline(browser, settings, tmp_path):
    docs = offline_page(browser, settings.service_url)
    docs.page.goto(f"{settings.service_url}/docs")
    docs.page.wait_for_selector(".opblock", timeout=30_000)
    assert docs.page.locator(".opblock").count() == operations()
    assert "mlsys" in docs.page.locator(".info .title").inner_text()
    assert not docs.page.locator("text=Failed to load API definition").count()
    docs.page.screenshot(path=tmp_path / "docs.png", full_page=True)
    assert docs.refused == [] and docs.errors == []


def test_redoc_renders_every_operation_offline(browser, settings):
    redoc = offline_page(browser, settings.service_url)
    redoc.page.goto(f"{settings.service_url}/redoc")
    redoc.page.wait_for_selector("[data-section-id^='operation/']", timeout=30_000)
    assert redoc.page.locator("[data-section-id^='operation/']").count() == operations()
    assert redoc.refused == []
    # ReDoc's footer logo comes from Redocly's CDN; the page's CSP stops it before any request
    # (ReDoc then hides it), and Chromium reports that refusal, which is the only error allowed.
    assert [e for e in redoc.errors if "cdn.redoc.ly/redoc/logo-mini.svg" not in e] == []


def test_the_page_would_have_been_blank_with_a_cdn(browser, settings):
    """The guard itself works: a page loading from a CDN records the refused request."""
    page = offline_page(browser, settings.service_url)
    page.page.set_content(
        '<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js">'
        "</script>"
    )
    assert page.refused == ["https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"]
