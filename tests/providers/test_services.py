"""The router and the rate limiter hang off Services, built lazily and closed with the app."""

from __future__ import annotations

from smarthub_mcp.providers.base import ChatMessage, ChatRequest
from smarthub_mcp.services import Services


async def test_services_build_router_and_limiter_once_and_close_them(services: Services) -> None:
    async with services.running():
        router = services.router
        assert services.router is router and services.rate_limiter is services.rate_limiter
        assert services.rate_limiter.backend == "memory"
        result = await router.complete("demo-chat", ChatRequest(messages=(ChatMessage("user", "hi"),)))
        assert result.provider == "demo"
        names = {m.name: m for m in router.list_models()}
        assert names["demo-chat"].available
