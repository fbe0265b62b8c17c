"""Render what the tests produced into docs/img: executed notebooks (HTML) and the widget screenshot.

Run by `make screenshots` after the notebook and browser tests wrote ``test-output/``.
"""

from __future__ import annotations

import base64
import shutil
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.support.browser import ARGS, CHROMIUM  # noqa: E402 (the tests' browser, as they launch it)

OUTPUT, IMAGES = ROOT / "test-output", ROOT / "docs" / "img"
PAGES = ["incident", "1_lateness", "2_duplicates", "3_gaps", "4_aggregate_diff"]


def health_plot() -> Path:
    """The pipeline health figure of the executed incident notebook, as docs/img/health.png."""
    import nbformat

    notebook = nbformat.read(OUTPUT / "notebooks" / "incident.ipynb", as_version=4)
    [png] = [
        o["data"]["image/png"]
        for c in notebook.cells
        if c.cell_type == "code" and "plot_health" in c.source
        for o in c.outputs
        if "image/png" in o.get("data", {})
    ]
    target = IMAGES / "health.png"
    target.write_bytes(base64.b64decode(png))
    return target


def main() -> int:
    IMAGES.mkdir(parents=True, exist_ok=True)
    missing = [name for name in PAGES if not (OUTPUT / "notebooks" / f"{name}.html").exists()]
    if missing or not (OUTPUT / "replay_widget.png").exists():
        print(f"run the notebook and browser tests first (missing: {missing or 'replay_widget.png'})", file=sys.stderr)
        return 1
    shutil.copy(OUTPUT / "replay_widget.png", IMAGES / "replay_widget.png")
    health_plot()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        for name in PAGES:
            page.goto((OUTPUT / "notebooks" / f"{name}.html").as_uri())
            page.screenshot(path=str(IMAGES / f"{name}.png"), full_page=True)
        browser.close()
    print(f"wrote {len(PAGES) + 2} screenshots to {IMAGES.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
