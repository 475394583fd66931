"""Every configured provider, built once from `settings.providers` and closed at shutdown.

    registry = ProviderRegistry.from_settings(settings)          # env defaults to os.environ
    entry = registry.get("openai")       # ProviderEntry: .provider (or None), .reason, .slot()
    await registry.aclose()

Keys come only from the environment variable each provider names (`api_key_env`). A provider
without its key, disabled, or of a type with no chat adapter yet is kept with `provider=None` and a
`reason` a user may read ("OPENAI_API_KEY is not set"), so its models are listed as unavailable
instead of hidden or crashing the server. An OpenAI-compatible provider with a `base_url` and no
`api_key_env` (a local Ollama, vLLM, LM Studio) needs no key.

`entry.slot()` is the per-provider concurrency cap (`max_concurrency`, an asyncio semaphore per
process): it protects the provider's own limits. Waiting for a slot is bounded by the provider's
timeout; a provider still saturated then fails retryably, so the router tries the next route.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

from smarthub_mcp.config import ProviderConfig, Settings
from smarthub_mcp.errors import ProviderError
from smarthub_mcp.providers.base import ChatProvider

PLACEHOLDER_KEY = "not-needed"  # local OpenAI-compatible servers ignore the key, the SDK wants one


@dataclass
class ProviderEntry:
    name: str
    config: ProviderConfig
    provider: ChatProvider | None
    reason: str | None = None
    semaphore: asyncio.Semaphore = field(default_factory=asyncio.Semaphore)

    @property
    def available(self) -> bool:
        return self.provider is not None

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        try:
            if self.semaphore.locked():  # wait_for costs a task of its own: only when we must wait
                await asyncio.wait_for(self.semaphore.acquire(), self.config.timeout_seconds)
            else:
                await self.semaphore.acquire()
        except TimeoutError:
            raise ProviderError(
                "The AI provider is at its concurrency limit", retryable=True, provider=self.name,
                details={"provider": self.name, "reason": "busy"},
            ) from None
        try:
            yield
        finally:
            self.semaphore.release()


def build_provider(name: str, config: ProviderConfig, env: Mapping[str, str]) -> ChatProvider | str:
    """The adapter for one provider config, or the reason it cannot be built."""
    if not config.enabled:
        return f"provider '{name}' is disabled"
    if config.type == "demo":
        from smarthub_mcp.providers.demo import DemoProvider

        return DemoProvider(name, config)
    if config.type not in ("openai", "anthropic"):
        return f"provider type '{config.type}' has no chat adapter"
    if config.api_key_env:
        key = env.get(config.api_key_env, "").strip()
        if not key:
            return f"{config.api_key_env} is not set"
    elif config.type == "openai" and config.base_url:
        key = PLACEHOLDER_KEY
    else:
        return f"provider '{name}' has no api_key_env configured"
    if config.type == "openai":
        from smarthub_mcp.providers.openai import OpenAIProvider

        return OpenAIProvider(name, config, api_key=key)
    from smarthub_mcp.providers.anthropic import AnthropicProvider

    return AnthropicProvider(name, config, api_key=key)


class ProviderRegistry:
    def __init__(self, entries: dict[str, ProviderEntry]) -> None:
        self.entries = entries

    @classmethod
    def from_settings(cls, settings: Settings, env: Mapping[str, str] | None = None) -> ProviderRegistry:
        environ = os.environ if env is None else env
        entries: dict[str, ProviderEntry] = {}
        for name, config in settings.providers.items():
            built = build_provider(name, config, environ)
            provider, reason = (None, built) if isinstance(built, str) else (built, None)
            entries[name] = ProviderEntry(name, config, provider, reason, asyncio.Semaphore(config.max_concurrency))
        return cls(entries)

    def get(self, name: str) -> ProviderEntry:
        return self.entries[name]

    async def aclose(self) -> None:
        for entry in self.entries.values():
            if entry.provider is not None:
                await entry.provider.aclose()
