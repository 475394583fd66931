"""The `audit_log` table's owner: who changed what, as one row written in the change's transaction.

Admin routes and commands (users, roles, API keys, OAuth clients, credits, promo codes, jobs) and
Stripe's dispute handling all write through `write_audit`; the money trail is read through
`money_audit`. No other module holds SQL for this table.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp.ids import new_id, now_ms
from smarthub_mcp.pages import page, row_id


def _json(value: Any) -> str | None:
    return json.dumps(value, sort_keys=True) if value is not None else None


async def write_audit(
    conn: AsyncConnection,
    *,
    actor_id: str | None,
    action: str,
    target_id: str | None,
    before: Any = None,
    after: Any = None,
    ip: str | None = None,
    request_id: str | None = None,
    target_type: str = "account",
) -> None:
    """One row: `actor_id` None is the system or the command line; `before`/`after` as JSON."""
    await conn.execute(
        text(
            "INSERT INTO audit_log (id, actor_id, action, target_type, target_id, before_json, after_json, ip,"
            " request_id, created_at) VALUES (:id, :a, :action, :tt, :t, :b, :af, :ip, :r, :now)"
        ),
        {"id": new_id("aud"), "a": actor_id, "action": action, "tt": target_type, "t": target_id,
         "b": _json(before), "af": _json(after), "ip": ip, "r": request_id, "now": now_ms()},
    )


async def money_audit(conn: AsyncConnection, cursor: str | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
    """Every admin money action (audit_log rows whose action starts with `credits.`), newest first."""
    rows = list(await conn.execute(
        text(
            "SELECT id, actor_id, action, target_id, after_json, ip, created_at FROM audit_log"
            " WHERE action LIKE 'credits.%'" + (" AND id < :c" if cursor else "") + " ORDER BY id DESC LIMIT :n"
        ),
        {"c": cursor, "n": limit + 1},
    ))
    shown, next_cursor = page(rows, limit, row_id)
    items = []
    for audit_id, actor, action, target, after_json, ip, created in shown:
        after = json.loads(after_json) if after_json else {}
        items.append({
            "id": audit_id, "actor_id": actor, "action": action, "target_id": target,
            "amount": after.get("amount"), "reason": after.get("reason"), "ip": ip, "created_at": created,
        })
    return items, next_cursor
