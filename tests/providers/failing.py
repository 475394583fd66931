"""One failing call against a scripted fake, for the adapters' error tests."""

from __future__ import annotations

from typing import Any

import pytest

from smarthub_mcp.errors import ProviderError
from smarthub_mcp.providers.base import ChatRequest
from tests.fakes.script import FakeProvider


async def failure_of(
    fake: FakeProvider, provider: Any, request: ChatRequest, behaviour: object, *, stream: bool = False
) -> ProviderError:
    """Script `behaviour`, make one call (streamed or not) with `provider`, close it, and return
    the ProviderError the call raised."""
    fake.script(behaviour)  # type: ignore[arg-type]
    try:
        with pytest.raises(ProviderError) as info:
            if stream:
                _ = [e async for e in provider.stream(request)]
            else:
                await provider.complete(request)
    finally:
        await provider.aclose()
    return info.value
