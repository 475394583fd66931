"""The meter: the one wrapper every tool call goes through, over MCP and HTTP alike.

authorize → (verified email) → rate limit → reserve the estimate → run → capture the exact cost
or release on any failure → one `usage_events` row. Settlement is shielded from cancellation: a
client that goes away mid-call still leaves a settled hold and a usage row behind.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import anyio
from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp.billing.errors import HoldExpired
from smarthub_mcp.billing.ledger import Ledger
from smarthub_mcp.billing.money import format_credits
from smarthub_mcp.billing.records import Record
from smarthub_mcp.db import Database, cached_text
from smarthub_mcp.errors import EmailNotVerified, InsufficientCredits, SmartHubError
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.ids import new_id, now_ms

log = logging.getLogger("smarthub.meter")
T = TypeVar("T")

TOP_UP_HINT = "Buy a credit package or redeem a promo code, then try again."

INSERT_USAGE = (
    "INSERT INTO usage_events (id, user_id, tool, model, provider, upstream_model, status, error_code,"
    " input_tokens, output_tokens, images, seconds, estimate, cost, hold_id, latency_ms, request_id, created_at)"
    " VALUES (:id, :user_id, :tool, :model, :provider, :upstream_model, :status, :error_code, :input_tokens,"
    " :output_tokens, :images, :seconds, :estimate, :cost, :hold_id, :latency_ms, :request_id, :created_at)"
)


@dataclass(frozen=True, slots=True)
class Usage:
    """What a call consumed, and its exact price (micro-credits, from pricing for the route that answered)."""

    cost: int = 0
    provider: str | None = None
    upstream_model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    images: int = 0
    seconds: int = 0


@dataclass(frozen=True, slots=True)
class Metered(Generic[T]):
    result: T
    charged: int
    hold_id: str | None
    balance: int | None
    """The balance after the charge; None for a free call."""
    usage: Usage


class RateLimiter(Protocol):
    async def check(self, principal: Principal, tool: str, tokens: int) -> None:
        """Raise RateLimited when the principal is over its limits, RateLimiterUnavailable when it
        cannot tell (checked before the reserve, so either refusal holds and charges nothing)."""


class AllowAll:
    """The default limiter until the providers package brings the real one."""

    async def check(self, principal: Principal, tool: str, tokens: int) -> None:
        return None


@dataclass(frozen=True, slots=True)
class _Call:
    principal: Principal
    tool: str
    model: str | None
    estimate: int
    request_id: str | None
    started: float


class Meter:
    def __init__(
        self,
        db: Database,
        ledger: Ledger,
        *,
        hold_ttl_seconds: float,
        require_verified_email: bool = False,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        self.db = db
        self.ledger = ledger
        self.hold_ttl_seconds = hold_ttl_seconds
        self.require_verified_email = require_verified_email
        self.rate_limiter: RateLimiter = rate_limiter or AllowAll()
        self._settling: set[asyncio.Task[Any]] = set()

    async def run(
        self,
        principal: Principal,
        *,
        tool: str,
        permission: str,
        model: str | None,
        estimate: int,
        work: Callable[[], Awaitable[tuple[T, Usage]]],
        request_id: str | None = None,
        tokens: int = 0,
        delivered: Callable[[], Usage] | None = None,
    ) -> Metered[T]:
        """Run `work` as one paid call. `estimate` must bound its cost; 0 means a free tool.

        `delivered`, for work that hands its result out as it goes (streamed text), tells what the
        caller already has: if the work then fails or is cancelled (a client that reads the stream
        and hangs up), that part is charged, not released."""
        call = _Call(principal, tool, model, estimate, request_id, time.perf_counter())
        hold_id: str | None = None
        try:
            principal.require(permission)
            if estimate > 0 and self.require_verified_email and not principal.email_verified:
                raise EmailNotVerified("verify your email address before using paid tools")
            await self.rate_limiter.check(principal, tool, tokens)
            if estimate > 0:
                hold_id = await self._reserve(call)
        except SmartHubError as exc:
            await self._shielded(self._record(call, Usage(), status="rejected", error_code=exc.code))
            raise
        try:
            result, usage = await work()
        except BaseException as exc:
            status = "cancelled" if isinstance(exc, asyncio.CancelledError) else "error"
            code = exc.code if isinstance(exc, SmartHubError) else ("cancelled" if status == "cancelled" else
                                                                    "internal_error")
            partial = delivered() if delivered is not None and hold_id is not None else None
            if partial is not None and partial.cost > 0:
                await self._shielded(self._succeed(call, hold_id, partial, status=status, error_code=code))
            else:
                await self._shielded(self._fail(call, hold_id, status, code))
            raise
        charged, balance = await self._shielded(self._succeed(call, hold_id, usage))
        return Metered(result=result, charged=charged, hold_id=hold_id, balance=balance, usage=usage)

    async def _reserve(self, call: _Call) -> str:
        # A fresh key per call. The request id is the client's to choose (X-Request-ID), so keying
        # the hold on it let a reused id turn a new call into a "repeat" of a settled one: the
        # reserve returned the old hold and the call went out unpaid.
        key = new_id("call")
        try:
            hold = await self.ledger.reserve(
                call.principal.user_id, call.estimate, ttl_seconds=self.hold_ttl_seconds,
                idempotency_key=key, reference=call.tool,
            )
        except InsufficientCredits as exc:
            raise InsufficientCredits(
                f"{exc.message} {TOP_UP_HINT}",
                details={**exc.details, "estimate": format_credits(call.estimate), "top_up": TOP_UP_HINT},
            ) from None
        except SmartHubError:
            raise
        except BaseException:
            # Cancelled or cut off mid-statement: on PostgreSQL the reserve may have committed
            # without our hearing back. Release whatever hold is under our key now, rather than
            # leave its funds unavailable until the sweeper expires it.
            await self._shielded(self._release_unclaimed(key))
            raise
        return hold.id

    async def _release_unclaimed(self, key: str) -> None:
        try:
            hold = await self.ledger.hold_by_key(key)
            if hold is not None and hold.status == "open":
                await self.ledger.release(hold.id)
        except Exception as exc:  # the original interruption is what the caller must see
            log.warning("could not release the hold of an interrupted reserve (%s); the sweeper will",
                        type(exc).__name__)

    async def _succeed(
        self, call: _Call, hold_id: str | None, usage: Usage, *, status: str = "ok", error_code: str | None = None
    ) -> tuple[int, int | None]:
        if hold_id is None and call.estimate == 0 and usage.cost == 0:
            # A free call that went through (get_balance, list_models...): nothing to settle, and
            # no usage row -- usage_events records what can cost credits, and every refusal.
            return 0, None
        if usage.cost > call.estimate:
            log.warning("%s cost %d above its estimate %d; charged the estimate", call.tool, usage.cost,
                        call.estimate)
        if hold_id is None:  # a zero estimate that still reported usage: record it, nothing to settle
            await self._record(call, usage, status=status, error_code=error_code)
            return 0, None
        try:
            charged, balance = await self.ledger.capture_recorded(
                hold_id,
                usage.cost,
                memo=call.model,
                record=Record("usage_events", self._usage_params(
                    call, usage, status=status, error_code=error_code, cost=None, hold_id=hold_id),
                    charged_column="cost"),
            )
        except HoldExpired as exc:
            # The call outlived the hold's TTL and the sweeper already gave its funds back. Charging
            # without a hold could overspend, and failing now would throw away work already done:
            # the result goes out uncharged, on record for the operator (raise hold_ttl_seconds).
            log.warning("%s outlived its hold %s (ttl %ss); delivered uncharged", call.tool, hold_id,
                        self.hold_ttl_seconds)
            async with self.db.write() as conn:
                await self._insert(conn, call, usage, status=status, error_code=exc.code, cost=0, hold_id=hold_id)
            return 0, (await self.ledger.balance(call.principal.user_id)).balance
        if balance is None:
            balance = (await self.ledger.balance(call.principal.user_id)).balance
        return charged, balance

    async def _fail(self, call: _Call, hold_id: str | None, status: str, code: str) -> None:
        async with self.db.write() as conn:
            if hold_id is not None:
                await self.ledger.release(hold_id, conn=conn)
            await self._insert(conn, call, Usage(), status=status, error_code=code, cost=0, hold_id=hold_id)

    async def _record(self, call: _Call, usage: Usage, *, status: str, error_code: str | None) -> None:
        async with self.db.write() as conn:
            await self._insert(conn, call, usage, status=status, error_code=error_code, cost=0, hold_id=None)

    async def _insert(
        self, conn: AsyncConnection, call: _Call, usage: Usage, *, status: str, error_code: str | None, cost: int,
        hold_id: str | None,
    ) -> None:
        params = self._usage_params(call, usage, status=status, error_code=error_code, cost=cost, hold_id=hold_id)
        await conn.execute(cached_text(INSERT_USAGE), params)

    @staticmethod
    def _usage_params(
        call: _Call, usage: Usage, *, status: str, error_code: str | None, cost: int | None, hold_id: str | None
    ) -> dict[str, Any]:
        """The usage row's values; without `cost` when None (the capture fills in what it charged)."""
        params = {
            "id": new_id("use"), "user_id": call.principal.user_id, "tool": call.tool, "model": call.model,
            "provider": usage.provider, "upstream_model": usage.upstream_model, "status": status,
            "error_code": error_code, "input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
            "images": usage.images, "seconds": usage.seconds, "estimate": call.estimate, "cost": cost,
            "hold_id": hold_id, "latency_ms": int((time.perf_counter() - call.started) * 1000),
            "request_id": call.request_id, "created_at": now_ms(),
        }
        if cost is None:
            del params["cost"]
        return params

    async def _shielded(self, coro: Coroutine[Any, Any, T]) -> T:
        """Finish settlement even if this task is being cancelled (asyncio or anyio alike): it runs
        in a task of its own, awaited under a shielded cancel scope."""
        task = asyncio.get_running_loop().create_task(coro)
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)
        with anyio.CancelScope(shield=True):
            return await asyncio.shield(task)

    async def drain(self) -> None:
        """Wait for settlements in flight (shutdown)."""
        if self._settling:
            await asyncio.gather(*list(self._settling), return_exceptions=True)
