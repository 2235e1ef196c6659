"""Headless Chromium for browser tests: Debian's ``chromium`` driven by Playwright.

``playwright install`` cannot download its own browsers here, so the system's Chromium is
launched (``.ci/run`` installs it with apt-get when missing). Registered as a plugin by
tests/conftest.py: any test can ask for the ``browser`` fixture and open pages with
:func:`offline_page`, which refuses (and records) every request outside the page's own origin.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("chromium is not installed: `apt-get install -y chromium` (.ci/run does it)")
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the session."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class OfflinePage:
    """A page that may only reach its own origin; what else it tried, and what it logged."""

    page: Page
    refused: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def offline_page(browser: Browser, origin: str) -> OfflinePage:
    """A new page for which the network is ``origin`` only (as with no internet at all)."""
    context = browser.new_context(service_workers="block")
    result = OfflinePage(context.new_page())
    allowed = urlsplit(origin)[:2]

    def route(route: Route) -> None:
        if urlsplit(route.request.url)[:2] == allowed or route.request.url.startswith("data:"):
            route.continue_()
        else:
            result.refused.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", route)
    result.page.on("pageerror", lambda exc: result.errors.append(str(exc)))
    result.page.on(
        "console", lambda msg: result.errors.append(msg.text) if msg.type == "error" else None
    )
    return result
