"""Fixtures shared by the /v1 (OpenAI-compatible API) tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.openai_server import FakeOpenAI


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    """The loopback fake OpenAI upstream the tests' models route to (key `oai-key`)."""
    async with FakeOpenAI(api_key="oai-key") as fake:
        yield fake
