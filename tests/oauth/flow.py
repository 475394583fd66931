"""The pieces of a full connector flow: our server on a known port, a token store, and a person
(headless Chromium) who signs in and consents when the MCP SDK's OAuth client sends them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from mcp.client.auth import TokenStorage
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthToken

from smarthub_mcp.app import build_app
from smarthub_mcp.compose import build_services
from smarthub_mcp.services import Services
from tests.conftest import LiveServer, free_port
from tests.oauth.browser import screenshot
from tests.oauth.helpers import PASSWORD, query_of


class MemoryStorage(TokenStorage):
    def __init__(self, tokens: OAuthToken | None = None, client: OAuthClientInformationFull | None = None) -> None:
        self.tokens, self.client = tokens, client

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


@contextlib.asynccontextmanager
async def smarthub(make_config: Any, **env: str) -> AsyncIterator[tuple[Services, LiveServer]]:
    """Our server under uvicorn, its public URL naming its own port (the issuer and resource do)."""
    port = free_port()
    services = build_services(make_config(SMARTHUB_SERVER__PUBLIC_BASE_URL=f"http://127.0.0.1:{port}", **env))
    async with LiveServer(build_app(services=services), port=port) as server:
        yield services, server


class Person:
    """Answers the SDK's `redirect_handler` in a real browser and hands its `callback_handler` the
    code the browser was sent back with (the callback URL is caught, never reaches a network)."""

    def __init__(self, page: Any, email: str, redirect_uri: str, shots: str | None = None) -> None:
        self.page, self.email, self.redirect_uri, self.shots = page, email, redirect_uri, shots
        self.back: asyncio.Future[str] | None = None
        self.pages_seen: list[str] = []

    async def redirect_handler(self, url: str) -> None:
        self.back = asyncio.get_running_loop().create_future()
        back = self.back

        async def caught(route: Any) -> None:
            if not back.done():
                back.set_result(route.request.url)
            await route.fulfill(status=200, content_type="text/plain", body="You may close this window.")

        await self.page.route(lambda u: u.startswith(self.redirect_uri), caught)
        await self.page.goto(url)
        # Found by their labels and roles, as a screen reader finds them; on a phone-sized screen
        # nothing may need scrolling sideways.
        if await self.page.get_by_label("Password", exact=True).count():
            self.pages_seen.append("sign-in")
            await self.fits_the_screen()
            self.sign_in_text = await self.page.inner_text("main")
            await self.page.get_by_label("Email", exact=True).fill(self.email)
            await self.page.get_by_label("Password", exact=True).fill(PASSWORD)
            if self.shots:
                await screenshot(self.page, f"{self.shots}-sign-in")
            await self.page.get_by_role("button", name="Sign in", exact=True).click()
            await self.page.get_by_role("button", name="Allow").wait_for()
        self.pages_seen.append("consent")
        await self.fits_the_screen()
        self.consent_text = await self.page.inner_text("main")
        if self.shots:
            await screenshot(self.page, f"{self.shots}-consent")
        await self.page.get_by_role("button", name="Allow").click()

    async def fits_the_screen(self) -> None:
        width = await self.page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], width

    async def callback_handler(self) -> AuthorizationCodeResult:
        assert self.back is not None
        url = await asyncio.wait_for(self.back, 60)
        answer = query_of(url)
        return AuthorizationCodeResult(code=answer.get("code", ""), state=answer.get("state"), iss=answer.get("iss"))
