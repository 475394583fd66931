"""The meter's verbs for a caller's own transaction: a job's final state change settles its hold
with `settle_in` or `release_in`, so the job row, the capture (or release) and the usage row commit
together or not at all. `counted` adds the metrics once that transaction has committed. Mixed into
`Meter` (billing/meter.py), which sets `ledger` and `metrics`.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp.billing.errors import HoldExpired
from smarthub_mcp.billing.ledger import Ledger
from smarthub_mcp.billing.reservations import Reservation, Settlement, Usage, usage_values
from smarthub_mcp.billing.usage import INSERT_USAGE, UPSERT_USAGE
from smarthub_mcp.db import cached_text
from smarthub_mcp.metrics import Metrics

log = logging.getLogger("smarthub.meter")


class InTransaction:
    ledger: Ledger
    metrics: Metrics | None

    async def settle_in(
        self, conn: AsyncConnection, res: Reservation, usage: Usage, *, status: str = "ok",
        error_code: str | None = None,
    ) -> Settlement | None:
        """`settle`, inside the caller's transaction (a job's final state change): capture
        `usage.cost` and write the usage row there, so both commit with the caller's rows or not at
        all. None when the hold was already resolved (nothing written). Count it with `counted`
        once the transaction has committed."""
        if res.hold_id is None:
            await self._insert(conn, usage_values(res, usage, status=status, error_code=error_code, cost=0))
            return Settlement("captured", 0, None)
        hold = await self.ledger.hold(res.hold_id, conn=conn)
        if hold is not None and hold.status == "expired":
            # Delivered after the sweeper gave the hold back (a job reconciled too late): the work
            # goes out uncharged, on record for the operator, as in `settle`.
            log.warning("%s outlived its hold %s; delivered uncharged", res.tool, res.hold_id)
            await self._insert(conn, usage_values(res, usage, status=status, error_code=HoldExpired.code, cost=0),
                               upsert=True)
            return Settlement("expired", 0, None)
        if hold is None or hold.status != "open":
            return None
        entry = await self.ledger.capture(res.hold_id, usage.cost, memo=res.model, conn=conn)
        charged = -entry.amount if entry is not None else 0
        await self._insert(conn, usage_values(res, usage, status=status, error_code=error_code, cost=charged))
        return Settlement("captured", charged, entry.balance_after if entry is not None else None)

    async def release_in(
        self, conn: AsyncConnection, res: Reservation, *, status: str, error_code: str
    ) -> Settlement | None:
        """`release`, inside the caller's transaction. None when the hold was already resolved."""
        if res.hold_id is None:
            await self._insert(conn, usage_values(res, Usage(), status=status, error_code=error_code, cost=0))
            return Settlement("released", 0, None)
        if not await self.ledger.release(res.hold_id, conn=conn):
            return None
        await self._insert(conn, usage_values(res, Usage(), status=status, error_code=error_code, cost=0))
        return Settlement("released", 0, None)

    def counted(self, res: Reservation, settlement: Settlement) -> None:
        """The metrics of a settlement made with `settle_in`/`release_in`, after its commit."""
        if self.metrics is not None and settlement.first:
            self.metrics.reservation(res.tool, settlement.outcome, settlement.charged)

    @staticmethod
    async def _insert(conn: AsyncConnection, values: dict[str, Any], *, upsert: bool = False) -> None:
        await conn.execute(cached_text(UPSERT_USAGE if upsert else INSERT_USAGE), values)
