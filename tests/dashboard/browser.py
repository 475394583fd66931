"""The browser checks every dashboard page gets: no console errors, and no accessibility
violations found by axe-core.

axe-core comes from npm (`tests/dashboard/package.json`, installed by `npm ci` there, as
scripts/test.sh does). The page's CSP stays on: axe is added as a same-origin script whose URL
Playwright answers from `node_modules`, so nothing is injected inline and nothing is fetched from
elsewhere. Missing axe-core skips only the accessibility part, unless SMARTHUB_TEST_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path
from typing import Any

import pytest

from tests.oauth.browser import REQUIRED, screenshot

AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
AXE_PATH = "/__test__/axe.min.js"
SHOTS = "dashboard"

_RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                       nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}));
}"""


class Watched:
    """A page with its console errors collected and axe served at AXE_PATH."""

    def __init__(self, page: Any, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("dialog", lambda d: asyncio.ensure_future(d.accept()))  # "Revoke this key?" and the like

    async def start(self) -> Watched:
        if AXE.exists():
            await self.page.route(f"{self.base_url}{AXE_PATH}",
                                  lambda route: route.fulfill(path=str(AXE), content_type="text/javascript"))
        return self

    async def goto(self, path: str) -> Any:
        return await self.page.goto(self.base_url + path)

    async def submit(self, selector: str) -> None:
        """Click a submit button and wait for the page it leads to."""
        async with self.page.expect_navigation():
            await self.page.click(selector)

    async def check(self, name: str | None = None) -> None:
        """No console errors so far, no axe violations on the page now; a screenshot when named."""
        assert self.errors == [], self.errors
        if name:
            await screenshot(self.page, f"{SHOTS}-{name}")
        if not AXE.exists():
            message = "axe-core is not installed: run `npm ci` in tests/dashboard (scripts/test.sh does)"
            if REQUIRED:
                pytest.fail(message)
            warnings.warn(message, stacklevel=2)
            return
        await self.page.add_script_tag(url=f"{self.base_url}{AXE_PATH}")
        violations = await self.page.evaluate(_RUN_AXE)
        assert violations == [], f"{self.page.url}: {violations}"
