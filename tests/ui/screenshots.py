"""Screenshots of the console for the docs, on a fresh local stack with the demo's data:

    uv run python -m tests.ui.screenshots        # writes docs/console/*.png

The same browser and data as the browser tests (tests/ui/conftest.py).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from mlsys.local.stack import LocalStack
from mlsys.settings import reset_settings
from tests.conftest import ROOT
from tests.ui.conftest import CHROMIUM, CHROMIUM_ARGS, make_demo_data

OUT = ROOT / "docs" / "console"


def shots(data: dict) -> dict[str, str]:
    model = data["model"]
    return {
        "models": "/ui/models?env=dev",
        "model": f"/ui/models/{model}?env=dev",
        "version": f"/ui/models/{model}/versions/v{data['version']}?env=dev",
        "jobs": "/ui/jobs?env=dev",
        "job-drift": f"/ui/jobs/{data['shifted_job']}?env=dev",
        "job-shadow": f"/ui/jobs/{data['shadow_job']}?env=dev",
    }


def main() -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="mlsys-shots-") as tmp:
        stack = LocalStack(root=ROOT, state_dir=Path(tmp))
        info = stack.up(owner_pid=os.getpid())
        os.environ.update(info.env)
        reset_settings()
        try:
            data = make_demo_data()
            OUT.mkdir(parents=True, exist_ok=True)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                for name, path in shots(data).items():
                    page.goto(f"{info.env['MLSYS_SERVICE_URL']}{path}", wait_until="load")
                    page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
                    print(f"wrote {OUT.relative_to(ROOT)}/{name}.png")
                browser.close()
        finally:
            stack.down()


if __name__ == "__main__":
    main()
