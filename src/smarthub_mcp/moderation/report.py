"""The compliance report: every moderation decision in a period, counted by day, user, kind, source,
category and decision, from the two tables that record them.

Decisions: `refused` and `unchecked` (prompts: moderation_events), `held` (an output held for review,
counted the day it was held), `approved` and `rejected` (counted the day an admin decided). Days are
UTC. `not_charged` is what the outputs held in the period and not approved (yet) are worth at list
price: what the operator may have paid a provider for and not billed.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime

from sqlalchemy import text

from smarthub_mcp.db import Database
from smarthub_mcp.safetext import spreadsheet_safe

DAY_MS = 86_400_000
DECISIONS = ("refused", "unchecked", "held", "approved", "rejected")
CSV_COLUMNS = ("day", "user_id", "email", "kind", "source", "category", "decision", "count")

_ROWS = """
SELECT d.day, d.user_id, u.email, d.kind, d.source, d.category, d.decision, COUNT(*) AS n FROM (
    SELECT created_at / 86400000 AS day, user_id, kind, source, category, decision
      FROM moderation_events WHERE created_at >= :start AND created_at < :end
    UNION ALL
    SELECT created_at / 86400000, user_id, kind, source, category, 'held'
      FROM moderation_reviews WHERE created_at >= :start AND created_at < :end
    UNION ALL
    SELECT decided_at / 86400000, user_id, kind, source, category, status
      FROM moderation_reviews WHERE status <> 'pending' AND decided_at >= :start AND decided_at < :end
) d LEFT JOIN users u ON u.id = d.user_id
GROUP BY d.day, d.user_id, u.email, d.kind, d.source, d.category, d.decision
ORDER BY d.day, d.user_id, d.kind, d.decision, d.source, d.category
"""
_NOT_CHARGED = """
SELECT COALESCE(SUM(price), 0) FROM moderation_reviews
 WHERE created_at >= :start AND created_at < :end AND status <> 'approved'
"""


@dataclass(frozen=True)
class ReportRow:
    day: str
    user_id: str
    email: str | None
    kind: str
    source: str
    category: str | None
    decision: str
    count: int


@dataclass(frozen=True)
class Report:
    start: date
    end: date
    """The last day included."""
    rows: list[ReportRow]
    not_charged: int

    def totals(self, key: str) -> dict[str, int]:
        """Counts summed by one column (`decision`, `category`, `user_id`, `day`...)."""
        out: dict[str, int] = {}
        for row in self.rows:
            name = str(getattr(row, key) or "none")
            out[name] = out.get(name, 0) + row.count
        return out

    def as_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for row in self.rows:
            writer.writerow(["" if v is None else spreadsheet_safe(v) for v in asdict(row).values()])
        return buffer.getvalue()


def day_of(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, UTC).date()


def _ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


async def build(db: Database, start: date, end: date) -> Report:
    """Every decision from `start` to `end`, both days included."""
    params = {"start": _ms(start), "end": _ms(end) + DAY_MS}
    async with db.read() as conn:
        rows = list(await conn.execute(text(_ROWS), params))
        not_charged = (await conn.execute(text(_NOT_CHARGED), params)).scalar_one()
    return Report(start, end, [
        ReportRow(day_of(int(r.day) * DAY_MS).isoformat(), r.user_id, r.email, r.kind, r.source, r.category,
                  r.decision, int(r.n)) for r in rows
    ], int(not_charged))
