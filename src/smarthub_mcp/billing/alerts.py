"""The low-balance alert: when a debit takes an account below its threshold, mark the crossing
once (a compare-and-set on `low_balance_alerted`) and notify; a top-up back above re-arms it.

The mark is a step of the debit's own transaction, so two racing debits alert once; the
notification runs after it, as a task of its own, so a slow or failing mailer never holds up
or breaks money movement.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp.billing import queries as q
from smarthub_mcp.billing.ledger_rows import Alert
from smarthub_mcp.billing.records import LowBalancePolicy
from smarthub_mcp.db import cached_text

log = logging.getLogger("smarthub.ledger")

LowBalanceNotifier = Callable[[str, int, int], Awaitable[None]]
"""Called with (user_id, balance, threshold) once per crossing below the low-balance threshold."""


class LowBalanceAlerts:
    def __init__(self, policy: LowBalancePolicy, notify: LowBalanceNotifier | None) -> None:
        self.policy = policy
        self.notify = notify
        self._tasks: set[asyncio.Task[None]] = set()

    def due(self, user_id: str, row: Any) -> Alert | None:
        """The alert a debit calls for, from the account state it RETURNed: only when it crossed
        the threshold of an account not yet alerted. The debit's transaction then marks the
        crossing (`MARK_ALERTED`, a compare-and-set) and sends the alert only if it won the mark."""
        balance, _held, last_topup, alerted = row
        threshold = self.policy.threshold(last_topup)
        if alerted or threshold <= 0 or balance >= threshold:
            return None
        return (user_id, balance, threshold)

    async def mark(self, conn: AsyncConnection, user_id: str, row: Any) -> Alert | None:
        """`due`, then the mark, in `conn`'s transaction (the debit verbs of billing/ledger.py)."""
        alert = self.due(user_id, row)
        if alert is None or (await conn.execute(cached_text(q.MARK_ALERTED), {"u": user_id})).first() is None:
            return None  # no crossing, or a concurrent debit marked it first and sends the alert
        return alert

    async def rearm(self, conn: AsyncConnection, user_id: str, row: Any) -> None:
        """After a credit: an account back at or above its threshold may alert again."""
        balance, _held, last_topup, alerted = row
        if alerted and balance >= self.policy.threshold(last_topup):
            await conn.execute(cached_text(q.REARM_ALERT), {"u": user_id})

    def send(self, alert: Alert | None) -> None:
        """Notify in the background (the steps that found the alert may not touch the loop)."""
        if alert is not None and self.notify is not None:
            task = asyncio.get_running_loop().create_task(self._notify(*alert))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _notify(self, user_id: str, balance: int, threshold: int) -> None:
        assert self.notify is not None
        try:
            await self.notify(user_id, balance, threshold)
        except Exception:  # an alert must never break money movement
            log.exception("low-balance notification failed for %s", user_id)

    async def drain(self) -> None:
        """Wait for alerts in flight (shutdown, tests)."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
