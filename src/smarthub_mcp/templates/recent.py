"""Recent inputs: the values a user gave a template's variables on successful runs, offered back
first when they next fill the template in (MCP completions).

Only what is safe and useful to keep: `string` and `number` variables, values of at most
`MAX_VALUE_CHARS` characters on one line (a name, a language, a tone; not a document pasted in),
the last `RECENT_KEPT` per variable, and only ever shown to the same user.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from smarthub_mcp.db import Database
from smarthub_mcp.ids import now_ms
from smarthub_mcp.templates.variables import Variable

RECENT_KEPT = 10
MAX_VALUE_CHARS = 100


def worth_keeping(variables: list[Variable], values: dict[str, Any] | None) -> dict[str, str]:
    """The supplied values that may be remembered, as text, by variable name."""
    kept: dict[str, str] = {}
    for var in variables:
        value = (values or {}).get(var.name)
        if var.type not in ("string", "number") or value is None or isinstance(value, bool):
            continue
        shown = str(value).strip()
        if shown and len(shown) <= MAX_VALUE_CHARS and "\n" not in shown and "\r" not in shown:
            kept[var.name] = shown
    return kept


async def remember(db: Database, user_id: str, template_id: str, values: dict[str, str]) -> None:
    """Note `values` as used now, and keep only the newest RECENT_KEPT per variable."""
    if not values:
        return
    now = now_ms()
    async with db.write() as conn:
        for variable, value in values.items():
            params = {"u": user_id, "t": template_id, "v": variable, "val": value, "now": now, "keep": RECENT_KEPT}
            await conn.execute(text(
                "INSERT INTO template_recent_values (user_id, template_id, variable, value, used_at)"
                " VALUES (:u, :t, :v, :val, :now) ON CONFLICT (user_id, template_id, variable, value)"
                " DO UPDATE SET used_at = excluded.used_at"), params)
            await conn.execute(text(
                "DELETE FROM template_recent_values WHERE user_id = :u AND template_id = :t AND variable = :v"
                " AND value NOT IN (SELECT value FROM template_recent_values WHERE user_id = :u"
                " AND template_id = :t AND variable = :v ORDER BY used_at DESC, value LIMIT :keep)"), params)


async def recall(db: Database, user_id: str, template_id: str, variable: str) -> list[str]:
    """The user's recent values for one variable, newest first."""
    rows = await db.fetch(
        "SELECT value FROM template_recent_values WHERE user_id = :u AND template_id = :t AND variable = :v"
        " ORDER BY used_at DESC, value LIMIT :keep",
        {"u": user_id, "t": template_id, "v": variable, "keep": RECENT_KEPT},
    )
    return [r.value for r in rows]
