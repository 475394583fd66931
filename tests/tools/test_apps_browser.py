"""Each MCP Apps view in headless Chromium, inside a minimal host page (tests/tools/apps_host.py) that
hands it a tool result recorded from the real server and proxies its `tools/call` back to that server
over MCP. Images and videos load from the server's signed links under the CSP the view declares; a
screenshot of each is saved (under the test's tmp dir; docs/images/ with SMARTHUB_TEST_SCREENSHOTS=1)
and no page logs a console error. Skipped without Playwright or Debian's chromium (tests/oauth/browser.py)."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from smarthub_mcp.app import build_app
from smarthub_mcp.config import AppConfig
from tests.billing.conftest import PACKAGES_TOML, STRIPE_KEY, WEBHOOK_SECRET
from tests.conftest import LiveServer, free_port
from tests.factories import bearer, make_user_with_token
from tests.fakes.stripe_api import FakeStripe
from tests.oauth.browser import SCREENSHOTS, browser_page
from tests.tools.apps_host import host_page
from tests.tools.test_apps import APPS


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def config(make_config: Callable[..., AppConfig], fake_stripe: FakeStripe, port: int) -> AppConfig:
    """The tools' config (credit packages, the fake Stripe), with the public URL of the live server,
    so the media links in results load from it."""
    return make_config(toml=PACKAGES_TOML, STRIPE_API_KEY=STRIPE_KEY, STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
                       SMARTHUB_PAYMENTS__STRIPE_API_BASE=fake_stripe.url,
                       SMARTHUB_SERVER__PUBLIC_BASE_URL=f"http://127.0.0.1:{port}")


@contextlib.asynccontextmanager
async def hosting(services: Any, port: int, mode: str = "legacy") -> AsyncIterator[Client]:
    """The live server, and an MCP client of it that declares MCP Apps, signed in as a fresh user.
    (A context in the test's own task: the SDK's client must close where it opened.)"""
    _, token = await make_user_with_token(services)
    async with LiveServer(build_app(services=services), port=port) as server:
        # The MCP transports' own timeouts (httpx2's default of 5 s would cut a video call that
        # waits for its encode on a busy machine: "SSE stream ended without a response").
        http = httpx2.AsyncClient(headers=bearer(token), timeout=httpx2.Timeout(30, read=300))
        transport = streamable_http_client(f"{server.url}/mcp", http_client=http)
        async with Client(transport, mode=mode, extensions=[APPS]) as client:
            yield client


def wire(result: Any) -> dict[str, Any]:
    return dict(result.model_dump(by_alias=True, mode="json", exclude_none=True))


async def call(client: Client, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(name, arguments)
    assert not result.is_error, result.content
    return wire(result)


class Rendered:
    def __init__(self, page: Any, errors: list[str]) -> None:
        self.page, self.errors = page, errors

    async def frame(self) -> Any:
        return await (await self.page.query_selector("#view")).content_frame()

    async def shot(self, tmp_path: Path, name: str) -> Path:
        """A screenshot kept by the test (and the docs' copy when asked for)."""
        await self.page.wait_for_timeout(150)  # let the host apply the view's last size-changed
        path = tmp_path / f"{name}.png"
        await self.page.locator("#view").screenshot(path=str(path))
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 2_000
        if os.environ.get("SMARTHUB_TEST_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, SCREENSHOTS / f"apps-{name}.png")
        return path


async def render(page: Any, client: Client, view: str, result: dict[str, Any], arguments: dict[str, Any],
                 theme: str = "light") -> Rendered:
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    async def host_call_tool(name: str, args: dict[str, Any]) -> dict[str, Any]:
        return wire(await client.call_tool(name, args))

    await page.expose_function("hostCallTool", host_call_tool)
    (content,) = (await client.read_resource(f"ui://smarthub/{view}.html")).contents
    await page.set_content(host_page(content.text, content.meta["ui"]["csp"], result, arguments, theme))
    return Rendered(page, errors)


async def until(frame: Any, expression: str, seconds: float = 20) -> None:
    """Wait for a JavaScript expression in the view to be true. (Playwright's `wait_for_function`
    evaluates its predicate with `eval`, which the view's CSP rightly refuses; `evaluate` goes
    through the DevTools protocol.)"""
    with anyio.fail_after(seconds):
        while True:
            if await frame.evaluate(expression):
                return
            await anyio.sleep(0.05)


async def loaded(frame: Any, selector: str) -> None:
    await frame.wait_for_selector(selector, timeout=20_000)
    await until(frame, "Array.from(document.images).every((i) => i.complete && i.naturalWidth > 0)")


@pytest.mark.parametrize("theme", ["light", "dark"])
async def test_gallery_shows_generated_images_opens_full_size_and_downloads(services, port, tmp_path, theme):
    args = {"prompt": "a red fox in the snow", "model": "demo-image", "count": 3}
    with anyio.fail_after(120):
        async with hosting(services, port) as host:
            result = await call(host, "generate_image", args)
            media = result["structuredContent"]["media"]
            async with browser_page(color_scheme=theme, viewport={"width": 520, "height": 700}) as page:
                view = await render(page, host, "gallery", result, args, theme)
                frame = await view.frame()
                await loaded(frame, "ul.grid img")
                assert await frame.locator("ul.grid li").count() == 3
                await view.shot(tmp_path, f"gallery-{theme}")
                await frame.get_by_role("button", name="Open full size: a red fox in the snow").first.click()
                await until(frame, "document.querySelector('dialog[open] img')?.naturalWidth > 0")
                assert await frame.locator("dialog[open] img").get_attribute("src") == media[0]["url"]
                await frame.locator("dialog[open]").get_by_role("button", name="Download").click()
                await page.wait_for_function("window.opened.length === 1")
                assert await page.evaluate("window.opened") == [media[0]["url"]]
                assert view.errors == []


async def test_gallery_lists_the_media_library(services, port, tmp_path):
    with anyio.fail_after(120):
        async with hosting(services, port) as host:
            await call(host, "generate_image", {"prompt": "a lighthouse", "model": "demo-image", "count": 2})
            listed = await call(host, "list_media", {})
            async with browser_page(viewport={"width": 520, "height": 700}) as page:
                view = await render(page, host, "gallery", listed, {})
                frame = await view.frame()
                await loaded(frame, "ul.grid img")
                assert await frame.locator("h1").inner_text() == "Your media"
                assert await frame.locator("ul.grid li").count() == 2
                await view.shot(tmp_path, "media")
                assert view.errors == []


async def test_player_shows_the_video_with_its_poster(services, port, tmp_path):
    args = {"prompt": "waves at dusk", "model": "demo-video"}
    with anyio.fail_after(120):
        async with hosting(services, port) as host:
            result = await call(host, "generate_video", args)
            assert result["structuredContent"]["status"] == "succeeded"
            (video,) = result["structuredContent"]["media"]
            async with browser_page(viewport={"width": 520, "height": 700}) as page:
                view = await render(page, host, "player", result, args)
                frame = await view.frame()
                await frame.wait_for_selector("video.player")
                player = frame.locator("video.player")
                assert await player.get_attribute("poster") == video["preview_url"]
                assert await player.get_attribute("src") == video["url"]
                # Nothing is fetched before play (preload none); loaded, it plays under the view's CSP.
                await frame.evaluate("const v = document.querySelector('video.player'); v.preload = 'auto'; v.load()")
                await until(frame, "document.querySelector('video.player').readyState >= 2")
                await view.shot(tmp_path, "player")
                assert view.errors == []


async def test_job_card_follows_a_running_job_to_its_video(services, port, tmp_path):
    services.settings.jobs.wait_seconds = 0  # the call answers at once, with the job still running
    args = {"prompt": "rain on a window", "model": "demo-video"}
    with anyio.fail_after(120):
        async with hosting(services, port) as host:
            result = await call(host, "generate_video", args)
            assert result["structuredContent"]["status"] in ("queued", "submitting", "running")
            async with browser_page(viewport={"width": 520, "height": 700}) as page:
                view = await render(page, host, "player", result, args)
                frame = await view.frame()
                await frame.wait_for_selector("section.card progress")
                assert "Generating a video" in await frame.locator("h1").inner_text()
                await view.shot(tmp_path, "job")
                # Live progress: the view asks get_job through the host until the job is done.
                await frame.wait_for_selector("video.player", timeout=90_000)
                assert "tools/call" in await page.evaluate("window.seen")
                assert view.errors == []


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_balance_card_shows_the_week_and_tops_up_through_buy_credits(services, port, tmp_path, mode):
    """On 2025-11-25 over the stateless endpoint the server cannot know the client declared MCP Apps,
    so the card sums the week from get_usage; on 2026-07-28 the figure comes in the result's `_meta`."""
    with anyio.fail_after(120):
        async with hosting(services, port, mode) as host:
            await call(host, "chat", {"prompt": "hello", "max_tokens": 8})
            spent = (await call(host, "get_usage", {}))["structuredContent"]["total_spent"]
            result = await call(host, "get_balance", {})
            view_data = result.get("_meta", {}).get("smarthub/view")
            assert view_data == ({"spent_last_7_days": spent} if mode == "auto" else None)
            async with browser_page(viewport={"width": 420, "height": 600}) as page:
                view = await render(page, host, "balance", result, {})
                frame = await view.frame()
                week = frame.locator("dt:text('Spent, last 7 days') + dd")
                await until(frame, "!document.querySelector('dd:last-of-type').textContent.includes('…')")
                assert float((await week.inner_text()).split()[0]) == float(spent) > 0
                if mode == "legacy":
                    await view.shot(tmp_path, "balance")
                await frame.get_by_role("button", name="Top up").click()
                package = frame.locator("div.row[aria-live] button").first
                await package.wait_for()
                await package.click()
                await page.wait_for_function("window.opened.length === 1")
                (opened,) = await page.evaluate("window.opened")
                assert opened.startswith("http")  # the fake Stripe's checkout page
                assert view.errors == []


async def test_gallery_says_what_was_held_for_review(services, port, tmp_path):
    args = {"prompt": "[flag] a fox", "model": "demo-image", "count": 2}  # the demo flags one of two
    with anyio.fail_after(120):
        async with hosting(services, port) as host:
            result = await call(host, "generate_image", args)
            assert result["structuredContent"]["held_for_review"] == 1
            async with browser_page(viewport={"width": 520, "height": 700}) as page:
                view = await render(page, host, "gallery", result, args)
                frame = await view.frame()
                await loaded(frame, "ul.grid img")
                assert await frame.locator("ul.grid li").count() == 1
                note = await frame.locator("main > p.muted").inner_text()
                assert note == "1 flagged under the content policy, not charged (1 held for review)."
                await view.shot(tmp_path, "held")
                assert view.errors == []
