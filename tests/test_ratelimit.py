"""Rate limits in memory and in the real Redis: bursts refused with a retry time, limits shared."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from smarthub_mcp.config import Settings
from smarthub_mcp.errors import InvalidRequest, RateLimited
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.ratelimit import RateLimiter

REDIS_URL = os.environ.get("SMARTHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SETTINGS = Settings(limits={
    "roles": {"user": {"requests_per_minute": 3, "tokens_per_minute": 100}},
    "users": {"vip@example.com": {"requests_per_minute": 5, "tokens_per_minute": 0}},
})


def principal(email: str = "ann@example.com", role: str = "user") -> Principal:
    return Principal(user_id=f"usr_{secrets.token_hex(4)}", email=email, role=role,
                     permissions=frozenset(), auth_method="jwt")


@pytest.fixture(params=["memory", "redis"])
async def limiters(request: pytest.FixtureRequest) -> AsyncIterator[tuple[RateLimiter, RateLimiter]]:
    """Two limiters sharing one store: the same object in memory, two connections to Redis."""
    if request.param == "memory":
        one = RateLimiter.from_settings(SETTINGS)
        yield one, one
        await one.aclose()
        return
    probe = aioredis.from_url(REDIS_URL)
    try:
        await probe.ping()
    except Exception:
        await probe.aclose()
        if os.environ.get("SMARTHUB_TEST_REQUIRE_REDIS") == "1":
            pytest.fail(f"Redis is required (SMARTHUB_TEST_REQUIRE_REDIS=1) but unreachable at {REDIS_URL}")
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    prefix = f"smarthub-test-{secrets.token_hex(4)}"
    one = RateLimiter.from_settings(SETTINGS, REDIS_URL, key_prefix=prefix)
    two = RateLimiter.from_settings(SETTINGS, REDIS_URL, key_prefix=prefix)
    try:
        yield one, two
    finally:
        await one.aclose()
        await two.aclose()
        keys = [k async for k in probe.scan_iter(match=f"{prefix}*")]
        if keys:
            await probe.delete(*keys)
        await probe.aclose()


async def test_burst_over_request_limit_is_refused_with_retry_time(limiters) -> None:
    one, two = limiters
    who = principal()
    await one.check(who, "chat", 0)
    await two.check(who, "chat", 0)  # a second replica counts against the same limit
    await one.check(who, "chat", 0)
    with pytest.raises(RateLimited) as info:
        await two.check(who, "chat", 0)
    assert info.value.code == "rate_limited" and 1 <= info.value.retry_after <= 60
    assert info.value.headers["Retry-After"] == str(info.value.retry_after)
    assert info.value.details["limit"] == "requests_per_minute"
    await one.check(principal(), "chat", 0)  # other users are not affected


async def test_token_limit_refuses_without_counting_the_request(limiters) -> None:
    one, two = limiters
    who = principal()
    await one.check(who, "chat", 60)
    with pytest.raises(RateLimited) as info:
        await two.check(who, "chat", 60)
    assert info.value.details["limit"] == "tokens_per_minute"
    await two.check(who, "chat", 30)  # the refused call used no request: two more still pass
    await one.check(who, "chat", 0)
    with pytest.raises(RateLimited):
        await one.check(who, "chat", 0)


async def test_recorded_tokens_count_and_never_refuse(limiters) -> None:
    one, two = limiters
    who = principal()
    await one.check(who, "chat", 10)
    await two.record_tokens(who, 500)  # more than the limit: fills the window, raises nothing
    with pytest.raises(RateLimited):
        await one.check(who, "chat", 1)


async def test_request_larger_than_the_limit_is_invalid(limiters) -> None:
    one, _ = limiters
    with pytest.raises(InvalidRequest):
        await one.check(principal(), "chat", 101)


async def test_user_override_and_zero_means_unlimited(limiters) -> None:
    one, _ = limiters
    vip = principal("vip@example.com")
    for _ in range(5):
        await one.check(vip, "chat", 1_000_000)
    with pytest.raises(RateLimited):
        await one.check(vip, "chat", 0)


async def test_unknown_role_gets_default_limits() -> None:
    limiter = RateLimiter.from_settings(Settings(limits={"roles": {}}))
    assert limiter.limits_for(principal(role="robot")).requests_per_minute == 60
