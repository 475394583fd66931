"""Helpers for the queue-style media adapter tests: build an adapter the way the server does (the
adapter table through the registry, configured by settings), and drive a job to its end."""

from __future__ import annotations

import contextlib
import io
from collections.abc import AsyncIterator
from typing import Any

import httpx2
from PIL import Image

from smarthub_mcp.config import Settings
from smarthub_mcp.errors import ProviderError
from smarthub_mcp.providers.media import Finished, ImageRequest, MediaProvider, Outcome, Pending
from smarthub_mcp.providers.registry import ProviderRegistry

KEY_ENV = {"fal": "FAL_KEY", "kie": "KIE_API_KEY"}


@contextlib.asynccontextmanager
async def adapter(kind: str, base_url: str, key: str = "test-key", **config: Any) -> AsyncIterator[MediaProvider]:
    settings = Settings(providers={kind: {"type": kind, "base_url": base_url, "api_key_env": KEY_ENV[kind],
                                          "timeout_seconds": 5, **config}})
    registry = ProviderRegistry.from_settings(settings, env={KEY_ENV[kind]: key})
    entry = registry.get(kind)
    assert entry.available and "image" in entry.capabilities, entry.reason
    assert isinstance(entry.provider, MediaProvider)
    try:
        yield entry.provider
    finally:
        await registry.aclose()


async def run_to_end(provider: MediaProvider, request: ImageRequest, max_polls: int = 20) -> tuple[Finished, int]:
    """Submit, then poll until finished; the finished outcome and how many polls said 'running'."""
    outcome: Outcome = await provider.submit(request)
    running = 0
    while isinstance(outcome, Pending):
        assert running < max_polls, "the job never finished"
        outcome = await provider.poll(outcome, request)
        running += isinstance(outcome, Pending)
    return outcome, running


async def fetch_png(url: str) -> tuple[int, int]:
    """Download an output the way the jobs engine will, and read its size: it must be a real PNG."""
    async with httpx2.AsyncClient() as http:
        response = await http.get(url)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(response.content)) as image:
        assert image.format == "PNG"
        return image.size


def assert_safe(error: ProviderError, *secrets: str) -> None:
    """No key, no raw provider body in what a user or a log line could see."""
    shown = f"{error.message} {error.details} {error!r}"
    for secret in ("test-key", "secret upstream detail", *secrets):
        assert secret not in shown
