"""The commented image provider examples in config.toml (fal, kie, OpenAI Images, Stability) work
once uncommented."""

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
    assert {name: settings.providers[name].type for name in ("fal", "kie", "stability")} == {
        "fal": "fal", "kie": "kie", "stability": "stability"}
    env = {"FAL_KEY": "k1", "KIE_API_KEY": "k2", "OPENAI_API_KEY": "k3", "STABILITY_API_KEY": "k4"}
    router = Router(settings, ProviderRegistry.from_settings(settings, env=env), rng=random.Random(1))
    try:
        infos = {info.name: info for info in router.list_models()}
        for name in ("flux-dev", "nano-banana", "gpt-image-mini", "stable-image-core"):
            assert infos[name].available and infos[name].kind == "image", infos[name].reason
        assert settings.models["flux-dev"].price.per_image["1024x1024"] == 25_000  # micro-credits
        assert settings.models["gpt-image-mini"].price.output_per_million == 8_000_000
        assert settings.models["stable-image-core"].price.per_image["1024x1024"] == 30_000
    finally:
        await router.aclose()
