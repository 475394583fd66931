"""Per-user rate limits: requests per minute and tokens per minute, with the `limits` library.

    limiter = RateLimiter.from_settings(settings, redis_url=secrets.redis_url)
    await limiter.check(principal, "chat", tokens=estimate)   # raises RateLimited; else counts the call
    await limiter.record_tokens(principal, extra_tokens)      # optional: tokens used beyond the estimate
    await limiter.aclose()

Which limit: `settings.limits.users[email]` if the user has an override, else
`settings.limits.roles[role]`, else the defaults of `RateLimitConfig`. A limit of 0 means no limit.
Both limits are per user across all tools (`tool` only names the call in the error details).

Where counted: in process memory by default; in Redis when `SMARTHUB_REDIS_URL` is set, so
replicas share one count (each replica has its own connection; keys start with `key_prefix`).
Sliding-window counters are used: a burst at a window edge cannot double the rate, and a token
cost is one counter increment, not one entry per token.

Order of checks (the meter calls `check` before reserving credits): both limits are tested first,
then both are hit, so a refused call consumes nothing. Two concurrent calls can both pass the
test and one then fail its hit; that one is refused after at most one request was counted. A call
asking for more tokens than the per-minute limit can never pass and gets `InvalidRequest`.

Tokens: `check` counts the tokens the caller passes (the meter's estimate, e.g. input estimate plus
the output cap). Pass only the input estimate instead and call `record_tokens` with the output
afterwards if you prefer exact counts; `record_tokens` never refuses (the work is done) and fills
the window up to its limit at most.

When Redis does not answer (down, unreachable, slower than `REDIS_TIMEOUTS`), `check` fails
closed for every caller, unlimited ones included (for them it pings Redis: there is nothing to
count): it raises `RateLimiterUnavailable` (503, `rate_limiter_unavailable`) and logs one warning
line. It runs before the meter reserves anything, so a refused call holds and charges nothing.
Failing open instead would drop every user's limits at once on every replica for as long as the
outage lasts, on a gateway whose calls spend credits and provider money: an outage of the limiter
must not be a window for unmetered bursts. Operators who would rather serve without shared limits
can unset `SMARTHUB_REDIS_URL` (per-process limits in memory). `ping` answers `/readyz`.
"""

from __future__ import annotations

import logging
import time

from limits import RateLimitItem, RateLimitItemPerHour, RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError

from smarthub_mcp.config import LimitsConfig, RateLimitConfig, Settings
from smarthub_mcp.errors import InvalidRequest, RateLimited, RateLimiterUnavailable
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.redisurl import redis_location

log = logging.getLogger("smarthub.ratelimit")

DEFAULT_PREFIX = "smarthub:rl"

REDIS_TIMEOUTS = {"socket_connect_timeout": 2.0, "socket_timeout": 2.0}
"""Seconds. Without them redis-py waits forever on a server that accepts and never answers, and
minutes on an unreachable host, with the caller's request hanging meanwhile. The URL's own
`?socket_timeout=` and `?socket_connect_timeout=` win over these."""


class _HealthCheckFailed(Exception):
    """Redis did not answer the health check (for a user with nothing to count)."""


class RateLimiter:
    def __init__(self, config: LimitsConfig, *, redis_url: str | None = None, key_prefix: str = DEFAULT_PREFIX) -> None:
        self.config = config
        self.redis_url = redis_url
        self.key_prefix = key_prefix
        self._storage: Storage | None = None
        self._strategy: SlidingWindowCounterRateLimiter | None = None
        # What the store raises when Redis fails (the in-memory store raises none of them). redis-py
        # is imported only when a Redis URL is set: it costs every process ~0.15 s of start-up.
        self._store_errors: tuple[type[Exception], ...] = (StorageError, _HealthCheckFailed)

    @classmethod
    def from_settings(
        cls, settings: Settings, redis_url: str | None = None, *, key_prefix: str = DEFAULT_PREFIX
    ) -> RateLimiter:
        return cls(settings.limits, redis_url=redis_url, key_prefix=key_prefix)

    @property
    def backend(self) -> str:
        return "redis" if self.redis_url else "memory"

    def strategy(self) -> SlidingWindowCounterRateLimiter:
        """Built on first use: the memory storage needs a running event loop."""
        if self._strategy is None:
            if self.redis_url:
                from redis.exceptions import RedisError

                self._store_errors = (RedisError, StorageError, _HealthCheckFailed)
                uri = self.redis_url if self.redis_url.startswith("async+") else "async+" + self.redis_url
                self._storage = RedisStorage(
                    uri, implementation="redispy", key_prefix=self.key_prefix,
                    **REDIS_TIMEOUTS,  # type: ignore[arg-type]  # forwarded to redis-py, typed as **options
                )
            else:
                self._storage = MemoryStorage()
            self._strategy = SlidingWindowCounterRateLimiter(self._storage)
        return self._strategy

    def limits_for(self, principal: Principal) -> RateLimitConfig:
        override = self.config.users.get(principal.email) or self.config.users.get(principal.email.lower())
        return override or self.config.roles.get(principal.role) or RateLimitConfig()

    def _items(self, principal: Principal) -> tuple[RateLimitItem | None, RateLimitItem | None]:
        limits = self.limits_for(principal)
        rpm, tpm = limits.requests_per_minute, limits.tokens_per_minute
        return (
            RateLimitItemPerMinute(rpm, namespace="rpm") if rpm else None,
            RateLimitItemPerMinute(tpm, namespace="tpm") if tpm else None,
        )

    async def _refuse(self, item: RateLimitItem, principal: Principal, tool: str, which: str) -> RateLimited:
        stats = await self.strategy().get_window_stats(item, principal.user_id)
        wait = max(1.0, stats.reset_time - time.time())
        return RateLimited(
            f"Too many {which} for your account; retry in {int(wait + 0.999)} s",
            retry_after=wait,
            details={"limit": f"{which}_per_minute", "allowed": item.amount, "tool": tool},
        )

    def _unavailable(self, exc: Exception, doing: str) -> None:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        log.warning("rate limiter: Redis at %s failed (%s: %s); %s", redis_location(self.redis_url or ""),
                    type(exc).__name__, reason, doing)

    async def check(self, principal: Principal, tool: str, tokens: int) -> None:
        """Count one call of `tool` using `tokens`, or raise RateLimited (nothing counted then).

        Raises RateLimiterUnavailable when Redis fails: fail closed (see the module's docstring)."""
        try:
            await self._check(principal, tool, tokens)
        except self._store_errors as exc:
            self._unavailable(exc, f"refused {tool} for {principal.user_id}")
            raise RateLimiterUnavailable(details={"tool": tool}) from None

    async def _check(self, principal: Principal, tool: str, tokens: int) -> None:
        rpm, tpm = self._items(principal)
        tokens = max(0, int(tokens))
        strategy = self.strategy()
        uid = principal.user_id
        if rpm is None and tpm is None and self.redis_url:
            # Nothing to count for an unlimited user, but the rule stays one rule: while Redis is
            # down every call is refused (one round trip, for unlimited users only).
            assert self._storage is not None
            if not await self._storage.check():
                raise _HealthCheckFailed("Redis did not answer the health check")
            return
        if tpm is not None and tokens > tpm.amount:
            raise InvalidRequest(
                "This request needs more tokens than your per-minute limit allows",
                details={"tokens": tokens, "tokens_per_minute": tpm.amount, "tool": tool},
            )
        if rpm is not None and not await strategy.test(rpm, uid):
            raise await self._refuse(rpm, principal, tool, "requests")
        if tpm is not None and tokens and not await strategy.test(tpm, uid, cost=tokens):
            raise await self._refuse(tpm, principal, tool, "tokens")
        if rpm is not None and not await strategy.hit(rpm, uid):
            raise await self._refuse(rpm, principal, tool, "requests")
        if tpm is not None and tokens and not await strategy.hit(tpm, uid, cost=tokens):
            raise await self._refuse(tpm, principal, tool, "tokens")

    async def hit_hourly(self, namespace: str, per_hour: int, key: str) -> float | None:
        """Count one `namespace` action for `key` (an IP, an email address) against `per_hour` an hour:
        None when allowed (and counted), else the seconds until one more is. 0 means no limit.
        For what has no user yet or must not be done too often for one: sign-ups, emails."""
        if per_hour <= 0:
            return None
        item = RateLimitItemPerHour(per_hour, namespace=namespace)
        try:
            if await self.strategy().hit(item, key):
                return None
            stats = await self.strategy().get_window_stats(item, key)
        except self._store_errors as exc:  # fail closed, as `check` does
            self._unavailable(exc, f"refused {namespace}")
            raise RateLimiterUnavailable(details={"action": namespace}) from None
        return max(1.0, stats.reset_time - time.time())

    async def record_tokens(self, principal: Principal, tokens: int) -> None:
        """Add tokens already spent (beyond what `check` counted); never refuses, nor fails on Redis."""
        _, tpm = self._items(principal)
        if tpm is None or tokens <= 0:
            return
        strategy = self.strategy()
        try:
            remaining = (await strategy.get_window_stats(tpm, principal.user_id)).remaining
            cost = min(int(tokens), remaining)
            if cost > 0:
                await strategy.hit(tpm, principal.user_id, cost=cost)
        except self._store_errors as exc:  # the work is done and paid for; only the count is lost
            self._unavailable(exc, f"{tokens} tokens of {principal.user_id} not counted")

    async def ping(self) -> bool:
        """Whether the store answers (always, in memory); bounded by REDIS_TIMEOUTS."""
        self.strategy()
        assert self._storage is not None
        return await self._storage.check()

    async def aclose(self) -> None:
        storage, self._storage, self._strategy = self._storage, None, None
        if isinstance(storage, RedisStorage):
            client = getattr(storage.bridge, "storage", None)
            if client is not None:
                await client.aclose()
