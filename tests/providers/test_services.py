"""The router and the rate limiter are built once by the composition root and closed with the app."""

from __future__ import annotations

from smarthub_mcp.compose import serving
from smarthub_mcp.providers.base import ChatMessage, ChatRequest
from smarthub_mcp.services import Services


async def test_services_build_router_and_limiter_once_and_close_them(services: Services) -> None:
    async with serving(services):
        router = services.router
        assert services.router is router and services.rate_limiter is services.rate_limiter
        assert services.rate_limiter.backend == "memory"
        result = await router.complete("demo-chat", ChatRequest(messages=(ChatMessage("user", "hi"),)))
        assert result.provider == "demo"
        names = {m.name: m for m in router.list_models()}
        assert names["demo-chat"].available


async def test_providers_are_built_before_the_server_starts_not_on_the_first_call(services: Services) -> None:
    # Importing a vendor SDK takes seconds; on the first chat call it would stall the event loop.
    router = services.router
    assert router.list_models()
    async with serving(services):
        assert services.router is router
