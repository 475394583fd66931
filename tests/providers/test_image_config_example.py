"""The commented fal and kie examples in config.toml work once uncommented."""

from __future__ import annotations

import random
from pathlib import Path

from smarthub_mcp.config import load_config
from smarthub_mcp.providers.registry import ProviderRegistry
from smarthub_mcp.providers.router import Router

ROOT = Path(__file__).resolve().parents[2]


def uncommented(text: str) -> str:
    lines = text.splitlines()
    start, end = lines.index("# >>> image providers"), lines.index("# <<< image providers")
    block = [line.removeprefix("#").removeprefix(" ") for line in lines[start + 1:end]]
    return "\n".join(lines[:start] + block + lines[end + 1:]) + "\n"


async def test_the_image_provider_examples_build_and_route(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(uncommented((ROOT / "config.toml").read_text()))
    settings = load_config(path, env={}).settings
    assert {settings.providers["fal"].type, settings.providers["kie"].type} == {"fal", "kie"}
    registry = ProviderRegistry.from_settings(settings, env={"FAL_KEY": "k1", "KIE_API_KEY": "k2"})
    router = Router(settings, registry, rng=random.Random(1))
    try:
        infos = {info.name: info for info in router.list_models()}
        for name in ("flux-dev", "nano-banana"):
            assert infos[name].available and infos[name].kind == "image", infos[name].reason
        assert settings.models["flux-dev"].price.per_image["1024x1024"] == 25_000  # micro-credits
    finally:
        await router.aclose()
