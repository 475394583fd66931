"""Headless Chromium through Playwright: the person in the OAuth tests who signs in and consents.

Uses Debian's `chromium` (`apt-get install chromium`; Playwright's own browser download is not
used). `scripts/test.sh` installs both; where either is missing the browser tests are skipped with
a message, unless SMARTHUB_TEST_REQUIRE_BROWSER=1 (CI), which makes them fail instead.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

REQUIRED = os.environ.get("SMARTHUB_TEST_REQUIRE_BROWSER") == "1"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "images"
"""Where the docs' screenshots go when SMARTHUB_TEST_SCREENSHOTS=1 (docs/oauth.md shows them)."""


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _missing(message: str) -> None:
    if REQUIRED:
        pytest.fail(message)
    pytest.skip(message)


class _SharedBrowser:
    """One Chromium per test session (per xdist worker), started on first use: launching Playwright's
    driver and the browser costs a second or two of CPU, a fresh context a few milliseconds. Each
    page gets a context of its own (its own cookies, storage and cache), closed after it."""

    def __init__(self) -> None:
        self._playwright: Any = None
        self._browser: Any = None

    async def get(self, executable: str) -> Any:
        if self._browser is None or not self._browser.is_connected():
            from playwright.async_api import async_playwright

            if self._playwright is None:
                self._playwright = await async_playwright().start()
            self._browser = await self._playwright.chromium.launch(
                executable_path=executable, headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"])
        return self._browser

    async def close(self) -> None:
        if self._browser is not None:
            await self._browser.close()
        if self._playwright is not None:
            await self._playwright.stop()
        self._browser = self._playwright = None


SHARED = _SharedBrowser()
"""Closed at the end of the session by tests/conftest.py."""


@contextlib.asynccontextmanager
async def browser_page(width: int = 390, height: int = 844, **context: Any) -> AsyncIterator[Any]:
    """A fresh page of headless Chromium in a context of its own (phone-sized by default, so the
    pages are checked at that width); `context` adds or overrides Playwright's context options
    (e.g. `color_scheme="dark"`)."""
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        _missing("the playwright package is not installed: run scripts/test.sh (it installs it)")
    executable = chromium_path()
    if executable is None:
        _missing("Debian's chromium is not installed: run `apt-get install -y chromium` (scripts/test.sh does)")
    browser = await SHARED.get(executable)
    options = {"viewport": {"width": width, "height": height}, "device_scale_factor": 1, **context}
    own = await browser.new_context(**options)
    try:
        yield await own.new_page()
    finally:
        await own.close()


async def screenshot(page: Any, name: str) -> None:
    if os.environ.get("SMARTHUB_TEST_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
