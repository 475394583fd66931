"""What a failed media submit means: did the request leave, and may the provider still bill it?

A chat call that times out can be tried on another route: nothing was delivered, nothing is billed.
An image request that was sent and never answered may still be generating, and billing, upstream;
sending it again (the SDK's retry, or the router's next route) is how peers made two billed jobs of
one. So only failures where the request provably never left (connection refused, connect or pool
timeout) stay retryable; a read or write timeout, a connection dropped after sending, or a 504 from
the provider's gateway (which gave up waiting, while the generation may go on) is
`ProviderOutcomeUnknown`, final: the jobs engine keeps the credits held and reconciles. Other HTTP
error statuses are the provider's answer and keep the chat classification (failures.py).
"""

from __future__ import annotations

from typing import Any

import httpx2

from smarthub_mcp.errors import ProviderError
from smarthub_mcp.providers import failures

NOT_SENT_TIMEOUTS = (httpx2.ConnectTimeout, httpx2.PoolTimeout)
NOT_SENT_ERRORS = (httpx2.ConnectError, httpx2.UnsupportedProtocol, httpx2.ProxyError)
GATEWAY_TIMEOUT = 504


def from_status(status: int, *, provider: str, headers: Any = None, body: Any = None) -> ProviderError:
    """A submit's HTTP error status: a gateway timeout leaves the outcome unknown, the rest is chat's rule."""
    if status == GATEWAY_TIMEOUT:
        return failures.outcome_unknown(provider, "gateway_timeout")
    return failures.from_status(status, provider=provider, headers=headers, body=body)


def from_transport(exc: BaseException | None, provider: str) -> ProviderError:
    """A ProviderError for an httpx2 transport failure (the cause of an SDK's connection error)."""
    if isinstance(exc, NOT_SENT_TIMEOUTS):
        return failures.timeout(provider)
    if isinstance(exc, NOT_SENT_ERRORS):
        return failures.unreachable(provider)
    return failures.outcome_unknown(provider, "no_answer")
