"""Headless Debian Chromium driven by Playwright (never a downloaded browser); screenshots go to ``OUTPUT``."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def require_chromium() -> None:
    """Skip without Chromium, unless ``PIK_REQUIRE_BROWSER`` is set (CI): then fail."""
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("PIK_REQUIRE_BROWSER"):
        pytest.fail("chromium is missing and PIK_REQUIRE_BROWSER is set: apt-get install chromium")
    pytest.skip("chromium is not installed (apt-get install chromium); CI sets PIK_REQUIRE_BROWSER")


@contextmanager
def chromium_page(width: int = 1200, height: int = 1400) -> Iterator[Any]:
    """A page of headless Debian Chromium driven by Playwright (never a downloaded browser)."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    OUTPUT.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()
