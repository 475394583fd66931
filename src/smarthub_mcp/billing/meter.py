"""The meter: the one wrapper every paid or metered call goes through, over MCP, HTTP and jobs alike.

Two phases. `reserve` authorizes (permission, verified email, rate limit) and holds the estimate;
`settle(usage)` charges the exact cost, or `release` gives the hold back. Each end writes exactly one
`usage_events` row and the metrics; a second settle or release of the same reservation changes
nothing and answers the first outcome. A reservation is durable (billing/reservations.py): a job
worker in another process settles it later by its hold id, and its own expiry, not a global one,
tells the sweeper when it is abandoned. `run` is the two phases around one awaited call, with the
hold kept alive while the call runs and settlement shielded from cancellation: a client that goes
away mid-call still leaves a settled hold and a usage row behind.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol, TypeVar

import anyio
from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp.billing.errors import HoldExpired
from smarthub_mcp.billing.keepalive import KeepAlive, Retrier
from smarthub_mcp.billing.ledger import Ledger
from smarthub_mcp.billing.meter_tx import InTransaction
from smarthub_mcp.billing.money import format_credits
from smarthub_mcp.billing.records import Record
from smarthub_mcp.billing.reservations import (
    Metered,
    Reservation,
    Settlement,
    Usage,
    usage_values,
)
from smarthub_mcp.db import Database
from smarthub_mcp.dbfaults import outage_of
from smarthub_mcp.errors import (
    STORE_OUTAGES,
    EmailNotVerified,
    InsufficientCredits,
    LedgerError,
    NotFound,
    SmartHubError,
)
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.ids import new_id, now_ms
from smarthub_mcp.metrics import Metrics

__all__ = ["Meter", "Metered", "Reservation", "Settlement", "Usage"]

log = logging.getLogger("smarthub.meter")
T = TypeVar("T")
Then = Callable[[AsyncConnection, "Reservation"], Awaitable[None]]

TOP_UP_HINT = "Buy a credit package or redeem a promo code, then try again."
UNCLAIMED_LOOK_MS = 30_000
SETTLE_RETRY_DELAYS = (0.25, 0.5, 1.0, 2.0)
"""Seconds between tries of a settlement the store did not answer, before the call gives up."""


class RateLimiter(Protocol):
    async def check(self, principal: Principal, tool: str, tokens: int) -> None:
        """Raise RateLimited when the principal is over its limits, RateLimiterUnavailable when it
        cannot tell (checked before the reserve, so either refusal holds and charges nothing)."""


class AllowAll:
    """No limits (a meter built without a limiter: tools and tests that do not rate limit)."""

    async def check(self, principal: Principal, tool: str, tokens: int) -> None:
        return None


class Meter(InTransaction):
    def __init__(
        self,
        db: Database,
        ledger: Ledger,
        *,
        hold_ttl_seconds: float,
        require_verified_email: bool = False,
        rate_limiter: RateLimiter | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.db = db
        self.ledger = ledger
        self.hold_ttl_seconds = hold_ttl_seconds
        self.require_verified_email = require_verified_email
        self.rate_limiter: RateLimiter = rate_limiter or AllowAll()
        self.metrics = metrics
        self.retries = Retrier()
        self._settling: set[asyncio.Task[Any]] = set()

    # --- phase one ------------------------------------------------------------------------------

    async def reserve(
        self,
        principal: Principal,
        *,
        tool: str,
        permission: str | None = None,
        model: str | None,
        estimate: int,
        tokens: int = 0,
        request_id: str | None = None,
        ttl_seconds: float | None = None,
        then: Then | None = None,
    ) -> Reservation:
        """Authorize the call and hold `estimate` (which must bound its cost; 0 is a free call).
        `permission` is checked here unless None (the caller checked it: `registry.invoke`).
        `ttl_seconds` is how long the hold survives unsettled (default: billing.hold_ttl_seconds;
        a job passes how long it may run). `then(conn, reservation)` writes more rows in the hold's
        own transaction (a job row): both commit or neither does. A refusal is recorded and raised;
        nothing is held."""
        now = now_ms()
        ttl = self.hold_ttl_seconds if ttl_seconds is None else ttl_seconds
        free = Reservation(None, principal.user_id, tool, model, estimate, request_id, now + int(ttl * 1000), now)
        try:
            if permission is not None:  # None: the caller checked it (registry.invoke, once per call)
                principal.require(permission)
            if estimate > 0 and self.require_verified_email and not principal.email_verified:
                raise EmailNotVerified("verify your email address before using paid tools")
            await self.rate_limiter.check(principal, tool, tokens)
            if estimate <= 0:
                if then is not None:
                    async with self.db.write() as conn:
                        await then(conn, free)
                return free
            return await self._hold(free, ttl, then)
        except SmartHubError as exc:
            await self._shielded(self._write(usage_values(free, Usage(), status="rejected", error_code=exc.code,
                                                          cost=0)))
            raise

    async def _hold(self, res: Reservation, ttl: float, then: Then | None = None) -> Reservation:
        # A fresh key per call. The request id is the client's to choose (X-Request-ID), so keying
        # the hold on it would let a reused id turn a new call into a "repeat" of a settled one.
        key = new_id("call")
        try:
            if then is None:
                hold = await self.ledger.reserve(
                    res.user_id, res.estimate, ttl_seconds=ttl, idempotency_key=key, reference=res.tool,
                    model=res.model, request_id=res.request_id,
                )
            else:
                async with self.db.write() as conn:
                    hold = await self.ledger.reserve(
                        res.user_id, res.estimate, ttl_seconds=ttl, idempotency_key=key, reference=res.tool,
                        model=res.model, request_id=res.request_id, conn=conn,
                    )
                    await then(conn, Reservation.from_hold(hold))
        except InsufficientCredits as exc:
            raise InsufficientCredits(
                f"{exc.message} {TOP_UP_HINT}",
                details={**exc.details, "estimate": format_credits(res.estimate), "top_up": TOP_UP_HINT},
            ) from None
        except SmartHubError:
            raise
        except BaseException:
            # Cancelled or cut off mid-statement: on PostgreSQL the reserve may commit without our
            # hearing back, even after this point. Release whatever lands under our key, now and
            # in the background until it is sure, rather than leave the funds held until expiry.
            # A statement in flight lands within seconds if at all: look for half a minute.
            self._release_unclaimed(key, min(res.created_at + int(ttl * 1000), now_ms() + UNCLAIMED_LOOK_MS))
            raise
        return Reservation.from_hold(hold)

    def _release_unclaimed(self, key: str, deadline_ms: int) -> None:
        async def attempt() -> None:
            hold = await self.ledger.hold_by_key(key)
            if hold is None:  # not (yet) committed: look again, until the hold could have expired
                raise LookupError("no hold under this key yet")
            if hold.status == "open":
                await self._end(Reservation.from_hold(hold), "released", "cancelled", "cancelled")

        self.retries.retry(f"release of the interrupted reserve {key}", attempt, deadline_ms, at_once=True)

    # --- phase two ------------------------------------------------------------------------------

    async def settle(
        self, reservation: Reservation | str, usage: Usage, *, status: str = "ok", error_code: str | None = None
    ) -> Settlement:
        """Charge `usage.cost` (at most the estimate) and record the call. Idempotent."""
        res = await self._reservation(reservation)
        if res.hold_id is None:
            if res.estimate or usage.cost or status != "ok":  # a zero estimate that still reported usage
                await self._write(usage_values(res, usage, status=status, error_code=error_code, cost=0))
            # A free call that went through (get_balance, list_models...) leaves no row: usage_events
            # records what can cost credits, and every refusal.
            return Settlement("captured", 0, None)
        if usage.cost > res.estimate:
            log.warning("%s cost %d above its estimate %d; charged the estimate", res.tool, usage.cost, res.estimate)
        row = usage_values(res, usage, status=status, error_code=error_code, cost=None)
        try:
            charged, balance = await self.ledger.capture_recorded(
                res.hold_id, usage.cost, memo=res.model, record=Record("usage_events", row, charged_column="cost"),
            )
        except HoldExpired as exc:
            # The call outlived its hold and the sweeper gave the funds back: charging without a hold
            # could overspend, and failing now would throw away work already done. The result goes
            # out uncharged, on record for the operator.
            log.warning("%s outlived its hold %s; delivered uncharged", res.tool, res.hold_id)
            await self._write({**row, "error_code": exc.code, "cost": 0}, upsert=True)
            return await self._counted(res, Settlement("expired", 0, await self._balance(res), first=False))
        except LedgerError:
            return await self._first_outcome(res)
        if balance is None:  # captured before: nothing written now
            return await self._first_outcome(res)
        return await self._counted(res, Settlement("captured", charged, balance))

    async def release(
        self, reservation: Reservation | str, *, status: str = "error", error_code: str = "released"
    ) -> Settlement:
        """Give the hold back and record the call (`status`: error, cancelled...). Idempotent."""
        res = await self._reservation(reservation)
        if res.hold_id is None:
            await self._write(usage_values(res, Usage(), status=status, error_code=error_code, cost=0))
            return Settlement("released", 0, None)
        return await self._end(res, "released", status, error_code)

    async def _end(self, res: Reservation, how: str, status: str, error_code: str) -> Settlement:
        """Release or expire the hold and write its usage row in one transaction; only the call that
        resolved the hold writes the row."""
        assert res.hold_id is not None
        async with self.db.write() as conn:
            verb = self.ledger.release if how == "released" else self.ledger.expire
            if await verb(res.hold_id, conn=conn):
                await self._insert(conn, usage_values(res, Usage(), status=status, error_code=error_code, cost=0))
                ended = True
            else:
                ended = False
        if not ended:
            return await self._first_outcome(res)
        return await self._counted(res, Settlement(how, 0, None))

    async def sweep(self, now_ms_: int | None = None, *, batch: int = 200) -> int:
        """Expire every open hold past its own expiry, with its usage row and a log line. Safe on
        many replicas at once: each expiry is a compare-and-set, done by one of them."""
        now = now_ms() if now_ms_ is None else now_ms_
        expired = 0
        while True:
            ids = await self.ledger.due_holds(now, batch)
            for hold_id in ids:
                hold = await self.ledger.hold(hold_id)
                if hold is None or hold.status != "open":
                    continue
                res = Reservation.from_hold(hold)
                settled = await self._end(res, "expired", "expired", "hold_expired")
                if settled.first:
                    expired += 1
                    log.warning("hold %s of user %s (%s, %s micro-credits) expired unsettled after %d s; released",
                                hold_id, res.user_id, res.tool, res.estimate, (now - res.created_at) // 1000)
            if len(ids) < batch:
                return expired

    # --- both phases around one call ----------------------------------------------------------

    async def run(
        self,
        principal: Principal,
        *,
        tool: str,
        permission: str | None = None,
        model: str | None,
        estimate: int,
        work: Callable[[], Awaitable[tuple[T, Usage]]],
        request_id: str | None = None,
        tokens: int = 0,
        delivered: Callable[[], Usage] | None = None,
    ) -> Metered[T]:
        """Run `work` as one call: reserve, run with the hold kept alive, then settle or release.

        `delivered`, for work that hands its result out as it goes (streamed text), tells what the
        caller already has: if the work then fails or is cancelled (a client that reads the stream
        and hangs up), that part is charged, not released."""
        res = await self.reserve(principal, tool=tool, permission=permission, model=model, estimate=estimate,
                                 tokens=tokens, request_id=request_id)
        try:
            if res.hold_id is None:
                result, usage = await work()
            else:
                async with KeepAlive(self.ledger.extend, res.hold_id, self.hold_ttl_seconds):
                    result, usage = await work()
        except BaseException as exc:
            cancelled = isinstance(exc, asyncio.CancelledError)
            code = exc.code if isinstance(exc, SmartHubError) else ("cancelled" if cancelled else "internal_error")
            status = "cancelled" if cancelled else "error"
            partial = delivered() if delivered is not None and res.hold_id is not None else None
            if partial is not None and partial.cost > 0:
                await self._shielded(self.settle(res, partial, status=status, error_code=code))
            else:
                await self._shielded(self._release_or_retry(res, status, code))
            raise
        try:
            settled = await self._shielded(self._settle_surely(res, usage))
        except Exception as exc:
            # Done, but not charged: the store refused the settlement for seconds (a dry pool, the
            # database away). The caller gets that error, not the result, so the hold goes back (in
            # the background until the store takes it) instead of staying open until it expires.
            if res.hold_id is not None:
                code = exc.code if isinstance(exc, SmartHubError) else "internal_error"
                await self._shielded(self._release_or_retry(res, "error", code))
            raise
        return Metered(result=result, charged=settled.charged, hold_id=res.hold_id,
                       balance=settled.balance if res.hold_id is not None else None, usage=usage)

    async def _settle_surely(self, res: Reservation, usage: Usage) -> Settlement:
        """Settle, trying again for a few seconds while the store is out of reach. A capture can
        commit and its answer be lost with the connection: giving up at once would answer an error
        for a call the user has paid for. Settling is idempotent: a retry finds that capture."""
        for delay in SETTLE_RETRY_DELAYS if res.hold_id is not None else ():  # only a hold's settle is idempotent
            try:
                return await self.settle(res, usage)
            except Exception as exc:
                if not (isinstance(exc, STORE_OUTAGES) or outage_of(exc) is not None):
                    raise
                log.warning("settling hold %s failed (%s); trying again in %.2f s", res.hold_id,
                            type(exc).__name__, delay)
                await asyncio.sleep(delay)
        return await self.settle(res, usage)

    async def _release_or_retry(self, res: Reservation, status: str, code: str) -> None:
        """Release after a failed call; when the database cannot take it now, keep trying in the
        background (the caller must see the call's own error, not ours)."""
        try:
            await self.release(res, status=status, error_code=code)
        except Exception as exc:
            if res.hold_id is None:
                log.warning("could not record the failed %s call (%s)", res.tool, type(exc).__name__)
                return
            log.warning("could not release hold %s (%s); retrying in the background", res.hold_id,
                        type(exc).__name__)
            self.retries.retry(f"release of hold {res.hold_id}",
                               lambda: self.release(res, status=status, error_code=code),
                               res.expires_at)

    # --- helpers ---------------------------------------------------------------------------------

    async def _reservation(self, ref: Reservation | str) -> Reservation:
        if isinstance(ref, Reservation):
            return ref
        hold = await self.ledger.hold(ref)
        if hold is None:
            raise NotFound("no such reservation", details={"hold_id": ref})
        return Reservation.from_hold(hold)

    async def _first_outcome(self, res: Reservation) -> Settlement:
        assert res.hold_id is not None
        hold = await self.ledger.hold(res.hold_id)
        assert hold is not None and hold.status != "open"
        charged = hold.captured_amount or 0
        return Settlement(hold.status, charged, await self._balance(res), first=False)

    async def _balance(self, res: Reservation) -> int:
        return (await self.ledger.balance(res.user_id)).balance

    async def _counted(self, res: Reservation, settlement: Settlement) -> Settlement:
        if self.metrics is not None and settlement.first:
            self.metrics.reservation(res.tool, settlement.outcome, settlement.charged)
        return settlement

    async def _write(self, values: dict[str, Any], *, upsert: bool = False) -> None:
        async with self.db.write() as conn:
            await self._insert(conn, values, upsert=upsert)


    async def _shielded(self, coro: Coroutine[Any, Any, T]) -> T:
        """Finish settlement even if this task is being cancelled (asyncio or anyio alike): it runs
        in a task of its own, awaited under a shielded cancel scope."""
        task = asyncio.get_running_loop().create_task(coro)
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)
        with anyio.CancelScope(shield=True):
            return await asyncio.shield(task)
        raise AssertionError("unreachable: a shielded scope is never cancelled")

    async def drain(self, retry_grace_seconds: float = 5.0) -> None:
        """Wait for settlements in flight, then (bounded) for background releases (shutdown)."""
        if self._settling:
            await asyncio.gather(*list(self._settling), return_exceptions=True)
        try:
            await asyncio.wait_for(self.retries.wait(), retry_grace_seconds)
        except TimeoutError:
            self.retries.cancel()  # what is still held expires and the sweeper releases it
