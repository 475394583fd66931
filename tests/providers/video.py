"""Helpers for the video adapter tests: build through the registry, poll to the end, check errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from smarthub_mcp.config import Settings
from smarthub_mcp.errors import ProviderError
from smarthub_mcp.providers.media import Finished, MediaProvider, Outcome, Pending, VideoRequest
from smarthub_mcp.providers.registry import ProviderRegistry
from tests.fakes.video_script import MP4


def registry(provider: dict[str, Any], env: Mapping[str, str]) -> ProviderRegistry:
    return ProviderRegistry.from_settings(Settings(providers={"video": provider}), env=env)


async def poll_to_end(provider: MediaProvider, first: Outcome, request: VideoRequest,
                      limit: int = 20) -> tuple[Finished, list[Pending]]:
    """Poll until Finished; every Pending seen on the way, in order (a ProviderError propagates)."""
    seen: list[Pending] = []
    outcome = first
    for _ in range(limit):
        if isinstance(outcome, Finished):
            return outcome, seen
        seen.append(outcome)
        outcome = await provider.poll(outcome, request)
    raise AssertionError(f"not finished after {limit} polls: {seen[-3:]}")


async def fetch(url: str) -> bytes:
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
        response.raise_for_status()
        return response.content


def assert_real_mp4(data: bytes) -> None:
    assert data == MP4
    assert data[4:8] == b"ftyp" and b"moov" in data and b"mdat" in data


def assert_safe(error: ProviderError, *secrets: str) -> None:
    """Nothing secret and nothing of the provider's own text in what a user may see."""
    shown = f"{error.message} {error.details} {error!s}"
    for secret in (*secrets, "fake failure", "risk control", "internal error occurred", "Bearer", "eyJ"):
        assert secret not in shown, (secret, shown)
