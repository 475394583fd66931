"""Every provider type the gateway can talk to: one explicit table, `type` -> adapter.

    adapter = ADAPTERS["openai"]       # Adapter: capabilities, key rule, build(name, config, key)

Adding a provider type is one adapter module plus one entry here and its `[providers.*]` config;
the registry, the router and `list_models` need no change. A type's capabilities ("chat",
"image", "video") say which models may route to it. Builders import their module (and its SDK)
only when a provider of that type is configured, so the CLI and the tests start fast.

Key rules: `required` needs the environment variable the provider names (`api_key_env`);
`base_url` also accepts a provider with a `base_url` and no key (a local OpenAI-compatible server:
Ollama, vLLM, LM Studio); `none` never needs one (the demo providers); `pair` needs two, the key
(`api_key_env`) and a secret (`secret_key_env`), handed to the builder as `secret` (Kling signs
its tokens with an access key and a secret key).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from smarthub_mcp.config import ProviderConfig

Capability = Literal["chat", "image", "video"]
KeyRule = Literal["required", "base_url", "none", "pair"]
Build = Callable[[str, ProviderConfig, str, str], object]
"""build(name, config, key, secret); `secret` is "" unless the key rule is `pair`."""


@dataclass(frozen=True, slots=True)
class Adapter:
    capabilities: frozenset[Capability]
    build: Build
    key: KeyRule = "required"


def _demo(name: str, config: ProviderConfig, key: str, secret: str) -> object:
    from smarthub_mcp.providers.demo import DemoProvider

    return DemoProvider(name, config)


def _demo_image(name: str, config: ProviderConfig, key: str, secret: str) -> object:
    from smarthub_mcp.providers.demo_image import DemoImageProvider

    return DemoImageProvider(name, config)


def _demo_video(name: str, config: ProviderConfig, key: str, secret: str) -> object:
    from smarthub_mcp.providers.demo_video import DemoVideoProvider

    return DemoVideoProvider(name, config)


def _openai(name: str, config: ProviderConfig, key: str, secret: str) -> object:
    from smarthub_mcp.providers.openai import OpenAIProvider

    return OpenAIProvider(name, config, api_key=key)


def _stability(name: str, config: ProviderConfig, key: str, secret: str) -> object:
    from smarthub_mcp.providers.stability import StabilityProvider

    return StabilityProvider(name, config, api_key=key)


def _anthropic(name: str, config: ProviderConfig, key: str, secret: str) -> object:
    from smarthub_mcp.providers.anthropic import AnthropicProvider

    return AnthropicProvider(name, config, api_key=key)


def _kling(name: str, config: ProviderConfig, key: str, secret: str) -> object:
    from smarthub_mcp.providers.kling import KlingProvider

    return KlingProvider(name, config, access_key=key, secret_key=secret)


def _runway(name: str, config: ProviderConfig, key: str, secret: str) -> object:
    from smarthub_mcp.providers.runway import RunwayProvider

    return RunwayProvider(name, config, api_key=key)


def _fal(name: str, config: ProviderConfig, key: str, secret: str) -> object:
    from smarthub_mcp.providers.fal import FalProvider

    return FalProvider(name, config, api_key=key)


def _kie(name: str, config: ProviderConfig, key: str, secret: str) -> object:
    from smarthub_mcp.providers.kie import KieProvider

    return KieProvider(name, config, api_key=key)


ADAPTERS: dict[str, Adapter] = {
    "demo": Adapter(frozenset({"chat"}), _demo, key="none"),
    "demo-image": Adapter(frozenset({"image"}), _demo_image, key="none"),
    "demo-video": Adapter(frozenset({"video"}), _demo_video, key="none"),
    "openai": Adapter(frozenset({"chat", "image"}), _openai, key="base_url"),  # chat, and OpenAI Images
    "anthropic": Adapter(frozenset({"chat"}), _anthropic),
    "stability": Adapter(frozenset({"image"}), _stability),
    "kling": Adapter(frozenset({"video"}), _kling, key="pair"),
    "runway": Adapter(frozenset({"video"}), _runway),
    "fal": Adapter(frozenset({"image", "video"}), _fal),
    "kie": Adapter(frozenset({"image"}), _kie),
}
"""Provider types with an adapter. Types named in config without one are listed as unavailable with
the reason, never a crash."""
