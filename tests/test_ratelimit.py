"""Rate limits in memory and in the real Redis: bursts refused with a retry time, limits shared;
a Redis that is down or silent refuses calls cleanly (fail closed) and makes /readyz say so."""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import httpx
import pytest
import redis.asyncio as aioredis
from mcp import Client
from sqlalchemy import text

from smarthub_mcp.app import build_app
from smarthub_mcp.compose import build_services
from smarthub_mcp.config import AppConfig, Settings
from smarthub_mcp.credits import MICRO
from smarthub_mcp.errors import InvalidRequest, RateLimited, RateLimiterUnavailable
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.ratelimit import RateLimiter
from smarthub_mcp.services import Services
from smarthub_mcp.tools.server import build_mcp_server
from tests.conftest import free_port, running_app
from tests.factories import bearer, make_api_key, make_user_with_token
from tests.tools.results import error_of

REDIS_URL = os.environ.get("SMARTHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SETTINGS = Settings(limits={
    "roles": {"user": {"requests_per_minute": 3, "tokens_per_minute": 100}},
    "users": {"vip@example.com": {"requests_per_minute": 5, "tokens_per_minute": 0}},
})

NO_MODERATION_ENDPOINT = {"moderation": "block list", "moderation_when_down": "n/a"}
"""What /readyz says of moderation on the default settings (no moderation endpoint configured)."""


def principal(email: str = "ann@example.com", role: str = "user") -> Principal:
    return Principal(user_id=f"usr_{secrets.token_hex(4)}", email=email, role=role,
                     permissions=frozenset(), auth_method="jwt")


async def redis_probe() -> aioredis.Redis:
    """A client to the test Redis; skips the test (fails it under SMARTHUB_TEST_REQUIRE_REDIS=1) when absent."""
    probe = aioredis.from_url(REDIS_URL)
    try:
        await probe.ping()
    except Exception:
        await probe.aclose()
        if os.environ.get("SMARTHUB_TEST_REQUIRE_REDIS") == "1":
            pytest.fail(f"Redis is required (SMARTHUB_TEST_REQUIRE_REDIS=1) but unreachable at {REDIS_URL}")
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    return probe


@pytest.fixture(params=["memory", "redis"])
async def limiters(request: pytest.FixtureRequest) -> AsyncIterator[tuple[RateLimiter, RateLimiter]]:
    """Two limiters sharing one store: the same object in memory, two connections to Redis."""
    if request.param == "memory":
        one = RateLimiter.from_settings(SETTINGS)
        yield one, one
        await one.aclose()
        return
    probe = await redis_probe()
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


# --- Redis down: fail closed ---------------------------------------------------------------------


def closed_port_url(password: str = "") -> str:
    """A Redis URL on a loopback port nothing listens on."""
    auth = f":{password}@" if password else ""
    return f"redis://{auth}127.0.0.1:{free_port()}/0"


def limiter_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "smarthub.ratelimit"]


async def test_redis_down_refuses_with_a_stable_code_and_one_warning(caplog) -> None:
    limiter = RateLimiter.from_settings(SETTINGS, closed_port_url(password="s3cret-pw"))
    who = principal()
    try:
        with caplog.at_level(logging.WARNING):
            with pytest.raises(RateLimiterUnavailable) as info:
                await limiter.check(who, "chat", 10)
            await limiter.record_tokens(who, 50)  # the work is done and paid: never raises
            with pytest.raises(RateLimiterUnavailable):  # sign-up and email caps fail closed too
                await limiter.hit_hourly("signup", 20, "10.0.0.1")
            assert await limiter.ping() is False
    finally:
        await limiter.aclose()
    assert (info.value.code, info.value.status) == ("rate_limiter_unavailable", 503)
    refused, uncounted, capped = limiter_warnings(caplog)
    assert refused.levelno == uncounted.levelno == capped.levelno == logging.WARNING
    assert "refused chat" in refused.getMessage() and "not counted" in uncounted.getMessage()
    assert "refused signup" in capped.getMessage()
    assert all(r.exc_info is None for r in caplog.records)
    assert "s3cret-pw" not in caplog.text


async def test_redis_down_refuses_unlimited_users_too() -> None:
    """A user whose limits are 0 (no limit) has nothing to count, but the rule is one rule: while
    Redis is down every call is refused, as the README says."""
    unlimited = Settings(limits={"users": {"vip@example.com": {"requests_per_minute": 0, "tokens_per_minute": 0}}})
    down = RateLimiter.from_settings(unlimited, closed_port_url())
    try:
        with pytest.raises(RateLimiterUnavailable):
            await down.check(principal("vip@example.com"), "chat", 10)
    finally:
        await down.aclose()
    await redis_probe()
    up = RateLimiter.from_settings(unlimited, REDIS_URL)
    try:
        for _ in range(100):  # and with Redis up, no limit at all
            await up.check(principal("vip@example.com"), "chat", 10)
    finally:
        await up.aclose()


async def test_a_redis_that_never_answers_is_refused_within_the_timeout() -> None:
    """A server that accepts connections and never replies (a hung Redis, a black-holing proxy):
    refused after the default socket timeout, not left hanging."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        limiter = RateLimiter.from_settings(SETTINGS, f"redis://127.0.0.1:{silent.getsockname()[1]}/0")
        try:
            with anyio.fail_after(10), pytest.raises(RateLimiterUnavailable):
                await limiter.check(principal(), "chat", 1)
        finally:
            await limiter.aclose()


@pytest.fixture
def redis_down_config(make_config: Callable[..., AppConfig]) -> AppConfig:
    return make_config(SMARTHUB_REDIS_URL=closed_port_url())


@pytest.fixture
async def redis_down_app(redis_down_config: AppConfig, db: Any) -> AsyncIterator[Any]:
    application = build_app(services=build_services(redis_down_config))
    async with running_app(application):
        yield application


async def test_redis_down_paid_calls_are_refused_and_nothing_is_held_or_charged(redis_down_app, caplog) -> None:
    services: Services = redis_down_app.state.services
    user_id, token = await make_user_with_token(services)
    await services.ledger.grant(user_id, 5 * MICRO, kind="grant", idempotency_key=f"t:{user_id}")
    before = await services.ledger.balance(user_id)
    key = await make_api_key(services, user_id)
    transport = httpx.ASGITransport(app=redis_down_app)
    with caplog.at_level(logging.INFO):
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            response = await http.post("/api/v1/tools/chat", json={"prompt": "hi"}, headers=bearer(token))
            ready = await http.get("/readyz")
        async with Client(build_mcp_server(services, api_key=key)) as client:
            result = await client.call_tool("chat", {"prompt": "hi"})
    assert response.status_code == 503 and response.headers["retry-after"] == "2"
    assert response.json()["error"]["code"] == "rate_limiter_unavailable"
    assert result.is_error and error_of(result)["code"] == "rate_limiter_unavailable"
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "checks": {"database": "ok", "redis": "unreachable"},
                            "details": NO_MODERATION_ENDPOINT}
    after = await services.ledger.balance(user_id)
    assert (after.balance, after.held) == (before.balance, 0)
    async with services.db.read() as conn:
        holds = (await conn.execute(text("SELECT COUNT(*) FROM holds WHERE account_id = :u"), {"u": user_id})).scalar()
        usage = list(await conn.execute(
            text("SELECT status, error_code, cost FROM usage_events WHERE user_id = :u"), {"u": user_id}
        ))
    assert holds == 0
    assert [tuple(row) for row in usage] == [("rejected", "rate_limiter_unavailable", 0)] * 2
    # One warning line per refused call, from the limiter; no error line, no traceback.
    assert [r.levelno for r in limiter_warnings(caplog)] == [logging.WARNING] * 2
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_readiness_reports_a_reachable_redis(make_config: Callable[..., AppConfig], db: Any) -> None:
    probe = await redis_probe()
    await probe.aclose()
    app = build_app(services=build_services(make_config(SMARTHUB_REDIS_URL=REDIS_URL)))
    async with running_app(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            ready = await http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"},
                            "details": NO_MODERATION_ENDPOINT}


async def test_redis_down_sign_ups_are_refused_cleanly(redis_down_app) -> None:
    """The sign-up cap counts in Redis too: with Redis down a sign-up is the same clean 503, not a
    500, and no account is made."""
    transport = httpx.ASGITransport(app=redis_down_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        response = await http.post("/api/v1/auth/register",
                                   json={"email": "new@example.com", "password": "a long passphrase"})
    assert response.status_code == 503 and response.json()["error"]["code"] == "rate_limiter_unavailable"
    services: Services = redis_down_app.state.services
    async with services.db.read() as conn:
        assert (await conn.execute(text("SELECT COUNT(*) FROM users"))).scalar() == 0
