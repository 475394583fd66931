"""Promo codes: admins create them, users redeem them once each, for credits from the ledger.

A redemption is one write transaction: the UNIQUE (code, user) redemption row (a user's second
try, however concurrent, conflicts), then one conditional UPDATE of the code's counter
(`redemptions_count < max_redemptions`, checked by the row it returns: the last slot of a limited
code goes to exactly one redeemer), then the ledger grant with the key `promo:<code>:<user>` on
the same connection. Any refusal rolls all three back.

"New users" (for `new_users_only` codes): an account registered within `promo.new_user_days`
that has never completed a purchase.

Every attempt is written to `promo_failures` before the code is looked up (so a burst of parallel
guesses is counted too), kept with its reason when the code is refused and deleted otherwise, and
counted per user over `promo.failure_window_seconds`: past `promo.max_failures` the user is rate
limited. The count lives in the database, so it holds across replicas.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp.billing.errors import (
    PromoAlreadyRedeemed,
    PromoError,
    PromoExhausted,
    PromoExpired,
    PromoInactive,
    PromoNewUsersOnly,
    PromoNotFound,
    PromoNotStarted,
)
from smarthub_mcp.billing.money import credits_for_people, format_credits
from smarthub_mcp.billing.promo_codes import normalize_code
from smarthub_mcp.errors import RateLimited
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.identity.users import created_at_of, lock_user
from smarthub_mcp.ids import new_id, now_ms
from smarthub_mcp.services import Services

log = logging.getLogger("smarthub.promo")

CODE_COLUMNS = (
    "id, code, description, credits, max_redemptions, redemptions_count, credits_granted, starts_at, expires_at,"
    " new_users_only, active, created_by, created_at, updated_at, last_redeemed_at"
)


@dataclass(frozen=True, slots=True)
class Redemption:
    code: str
    credits: int
    balance: int
    entry_id: str

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "credits": format_credits(self.credits), "balance": format_credits(self.balance),
                "entry_id": self.entry_id}

    def for_people(self) -> str:
        added, balance = credits_for_people(self.credits), credits_for_people(self.balance)
        return f"Code {self.code} redeemed: {added} added; your balance is {balance}."


async def redeem(services: Services, principal: Principal, code: str) -> Redemption:
    """Redeem `code` for the principal; raises a PromoError subclass (distinct codes) or RateLimited."""
    attempt = await _begin_attempt(services, principal.user_id)
    try:
        redemption = await _redeem(services, principal.user_id, normalize_code(code))
    except PromoError as exc:
        await _settle_attempt(services, attempt, exc.code)
        raise
    except BaseException:
        await _settle_attempt(services, attempt, None)  # not the code's fault: the attempt does not count
        raise
    await _settle_attempt(services, attempt, None)
    return redemption


async def _redeem(services: Services, user_id: str, code: str) -> Redemption:
    now = now_ms()
    async with services.db.write() as conn:
        row = None
        if code:
            row = (await conn.execute(text(f"SELECT {CODE_COLUMNS} FROM promo_codes WHERE code = :c"),
                                      {"c": code})).first()
        if row is None:
            raise PromoNotFound("That promo code does not exist.")
        _check_window(row, now)
        if row.new_users_only and not await _is_new_user(services, conn, user_id, now):
            raise PromoNewUsersOnly("This promo code is for new users only.")
        inserted = (await conn.execute(
            text("INSERT INTO promo_redemptions (id, code_id, user_id, credits, created_at)"
                 " VALUES (:id, :c, :u, :cr, :now) ON CONFLICT (code_id, user_id) DO NOTHING RETURNING id"),
            {"id": new_id("red"), "c": row.id, "u": user_id, "cr": row.credits, "now": now},
        )).first()
        if inserted is None:
            raise PromoAlreadyRedeemed("You have already redeemed this promo code.")
        counted = (await conn.execute(
            text("UPDATE promo_codes SET redemptions_count = redemptions_count + 1,"
                 " credits_granted = credits_granted + credits, last_redeemed_at = :now"
                 " WHERE id = :id AND active = TRUE"
                 " AND (max_redemptions IS NULL OR redemptions_count < max_redemptions) RETURNING id"),
            {"id": row.id, "now": now},
        )).first()
        if counted is None:  # the last slot went to someone else (or the code was just disabled)
            raise PromoExhausted("This promo code has been fully redeemed.")
        ledger = services.ledger
        await ledger.open_account(user_id, conn=conn)
        entry = await ledger.grant(
            user_id, row.credits, kind="promo", idempotency_key=f"promo:{row.id}:{user_id}",
            reference=row.id, memo=f"promo code {row.code}", conn=conn,
        )
        await conn.execute(text("UPDATE promo_redemptions SET entry_id = :e WHERE id = :id"),
                           {"e": entry.id, "id": inserted.id})
    log.info("user %s redeemed promo %s for %d", user_id, row.code, row.credits)
    return Redemption(code=row.code, credits=row.credits, balance=entry.balance_after, entry_id=entry.id)


def _check_window(row: Any, now: int) -> None:
    if not row.active:
        raise PromoInactive("This promo code is no longer active.")
    if row.starts_at is not None and now < row.starts_at:
        raise PromoNotStarted("This promo code is not valid yet.", details={"starts_at": row.starts_at})
    if row.expires_at is not None and now >= row.expires_at:
        raise PromoExpired("This promo code has expired.", details={"expired_at": row.expires_at})
    if row.max_redemptions is not None and row.redemptions_count >= row.max_redemptions:
        raise PromoExhausted("This promo code has been fully redeemed.")


async def _is_new_user(services: Services, conn: AsyncConnection, user_id: str, now: int) -> bool:
    days = services.settings.promo.new_user_days
    created = await created_at_of(conn, user_id)
    if created is None or now - created > days * 86_400_000:
        return False
    bought = (await conn.execute(
        text("SELECT 1 FROM payments WHERE user_id = :u AND paid_at IS NOT NULL LIMIT 1"), {"u": user_id}
    )).first()
    return bought is None


async def _begin_attempt(services: Services, user_id: str) -> str:
    """Count one attempt as a failure *before* the code is looked up, or raise RateLimited; returns
    the row, which `_settle_attempt` keeps (a failure) or deletes (a success).

    Counting first, under a lock on the user's row, is what holds under concurrency: with
    check-then-record, two hundred guesses sent at once all passed the check."""
    cfg = services.settings.promo
    now = now_ms()
    since = now - cfg.failure_window_seconds * 1000
    attempt = new_id("pf")
    async with services.db.write() as conn:
        if not services.db.is_sqlite:  # SQLite's write transactions already run one at a time
            await lock_user(conn, user_id)
        # The user's failures older than the window no longer count: forget them here, so the
        # table stays small without a sweeper.
        await conn.execute(text("DELETE FROM promo_failures WHERE user_id = :u AND created_at <= :h"),
                           {"u": user_id, "h": since})
        count, oldest = (await conn.execute(
            text("SELECT COUNT(*), MIN(created_at) FROM promo_failures WHERE user_id = :u AND created_at > :since"),
            {"u": user_id, "since": since},
        )).one()
        if count >= cfg.max_failures:
            retry_after = (oldest + cfg.failure_window_seconds * 1000 - now) / 1000
            raise RateLimited("Too many invalid promo codes; please wait before trying again.",
                              retry_after=max(retry_after, 1.0))
        await conn.execute(
            text("INSERT INTO promo_failures (id, user_id, reason, created_at) VALUES (:id, :u, 'pending', :now)"),
            {"id": attempt, "u": user_id, "now": now},
        )
    return attempt


async def _settle_attempt(services: Services, attempt: str, failure: str | None) -> None:
    """A refused code keeps its row, with the reason; anything else gives the attempt back."""
    async with services.db.write() as conn:
        if failure is None:
            await conn.execute(text("DELETE FROM promo_failures WHERE id = :id"), {"id": attempt})
        else:
            await conn.execute(text("UPDATE promo_failures SET reason = :r WHERE id = :id"),
                               {"r": failure, "id": attempt})

