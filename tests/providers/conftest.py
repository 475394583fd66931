"""Fixtures: loopback fake OpenAI, Anthropic, Stability, fal, kie, Kling and Runway servers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.fal_queue_server import FakeFal
from tests.fakes.kie_server import FakeKie
from tests.fakes.kling_server import FakeKling
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.runway_server import FakeRunway
from tests.fakes.stability_server import FakeStability


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
async def fake_openai_2() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
async def fake_anthropic(tmp_path, monkeypatch) -> AsyncIterator[FakeAnthropic]:
    # The SDK reads a config directory for profiles; keep it empty so the machine's never leaks in.
    config_dir = tmp_path / "anthropic-config"
    config_dir.mkdir()
    monkeypatch.setenv("ANTHROPIC_CONFIG_DIR", str(config_dir))
    async with FakeAnthropic() as fake:
        yield fake


@pytest.fixture
async def fake_stability() -> AsyncIterator[FakeStability]:
    async with FakeStability() as fake:
        yield fake


@pytest.fixture
async def fake_fal() -> AsyncIterator[FakeFal]:
    async with FakeFal() as fake:
        yield fake


@pytest.fixture
async def fake_kie() -> AsyncIterator[FakeKie]:
    async with FakeKie() as fake:
        yield fake


@pytest.fixture
async def fake_kling() -> AsyncIterator[FakeKling]:
    async with FakeKling() as fake:
        yield fake


@pytest.fixture
async def fake_runway() -> AsyncIterator[FakeRunway]:
    async with FakeRunway() as fake:
        yield fake
