"""Every configured provider, built once from `settings.providers` and closed at shutdown.

    registry = ProviderRegistry.from_settings(settings)          # env defaults to os.environ
    entry = registry.get("openai")   # ProviderEntry: .provider (or None), .reason, .capabilities, .slot()
    await registry.aclose()

Types map to adapters through the explicit table in adapters.py. Keys come only from the
environment variables each provider names (`api_key_env`, and `secret_key_env` for key pairs). A
provider without its key, disabled, or of a type with no adapter yet is kept with `provider=None`
and a `reason` a user may read ("OPENAI_API_KEY is not set"), so its models are listed as
unavailable instead of hidden or crashing the server.

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
from typing import Any

from smarthub_mcp.config import ProviderConfig, Settings
from smarthub_mcp.errors import ProviderError
from smarthub_mcp.providers.adapters import ADAPTERS, Capability

PLACEHOLDER_KEY = "not-needed"  # local OpenAI-compatible servers ignore the key, the SDK wants one


@dataclass
class ProviderEntry:
    name: str
    config: ProviderConfig
    provider: Any
    """The adapter: a ChatProvider (base.py) and/or a MediaProvider (media.py), as `capabilities` say."""
    reason: str | None = None
    capabilities: frozenset[Capability] = frozenset()
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


def provider_key(name: str, config: ProviderConfig, env: Mapping[str, str]) -> str | None:
    """The key for one provider, or None when its adapter's key rule is not met."""
    adapter = ADAPTERS[config.type]
    if adapter.key == "none":
        return ""
    if config.api_key_env:
        return env.get(config.api_key_env, "").strip() or None
    if adapter.key == "base_url" and config.base_url:
        return PLACEHOLDER_KEY
    return None


def build_provider(name: str, config: ProviderConfig, env: Mapping[str, str]) -> object | str:
    """The adapter for one provider config, or the reason it cannot be built."""
    if not config.enabled:
        return f"provider '{name}' is disabled"
    adapter = ADAPTERS.get(config.type)
    if adapter is None:
        return f"provider type '{config.type}' has no adapter yet"
    key = provider_key(name, config, env)
    if key is None:
        if config.api_key_env:
            return f"{config.api_key_env} is not set"
        return f"provider '{name}' has no api_key_env configured"
    secret = ""
    if adapter.key == "pair":
        if not config.secret_key_env:
            return f"provider '{name}' has no secret_key_env configured"
        secret = env.get(config.secret_key_env, "").strip()
        if not secret:
            return f"{config.secret_key_env} is not set"
    return adapter.build(name, config, key, secret)


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
            adapter = ADAPTERS.get(config.type)
            entries[name] = ProviderEntry(
                name, config, provider, reason, adapter.capabilities if adapter else frozenset(),
                asyncio.Semaphore(config.max_concurrency),
            )
        return cls(entries)

    def get(self, name: str) -> ProviderEntry:
        return self.entries[name]

    async def aclose(self) -> None:
        for entry in self.entries.values():
            if entry.provider is not None:
                await entry.provider.aclose()
