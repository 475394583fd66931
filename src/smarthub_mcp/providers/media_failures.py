"""What a failed media submit means: did the request leave, and may the provider still bill it?

A chat call that times out can be tried on another route: nothing was delivered, nothing is billed.
An image request that was sent and never answered may still be generating, and billing, upstream;
sending it again (the SDK's retry, or the router's next route) is how peers made two billed jobs of
one. So only failures where the request provably never left (connection refused, connect or pool
timeout) stay retryable; a read or write timeout, or a connection dropped after sending, is
`outcome_unknown` and final. HTTP error statuses are the provider's answer and keep the chat
classification (failures.py).
"""

from __future__ import annotations

import httpx2

from smarthub_mcp.errors import ProviderError
from smarthub_mcp.providers import failures
from smarthub_mcp.providers.media import OUTCOME_UNKNOWN

NOT_SENT_TIMEOUTS = (httpx2.ConnectTimeout, httpx2.PoolTimeout)
NOT_SENT_ERRORS = (httpx2.ConnectError, httpx2.UnsupportedProtocol, httpx2.ProxyError)


def outcome_unknown(provider: str) -> ProviderError:
    return ProviderError(
        "The AI provider did not answer; it may still make this request, so it was not sent again",
        retryable=False, provider=provider, details={"provider": provider, "reason": OUTCOME_UNKNOWN},
    )


def from_transport(exc: BaseException | None, provider: str) -> ProviderError:
    """A ProviderError for an httpx2 transport failure (the cause of an SDK's connection error)."""
    if isinstance(exc, NOT_SENT_TIMEOUTS):
        return failures.timeout(provider)
    if isinstance(exc, NOT_SENT_ERRORS):
        return failures.unreachable(provider)
    return outcome_unknown(provider)
