"""Login throttling, with counters in the database so every replica shares them.

Failures are counted per email (hashed, known or not, so the answer never reveals whether an
account exists) and per client IP. The first two failures are free; after that each failure
locks the bucket for a doubling delay (5 s, 10 s, 20 s, ...), and at `auth.login_max_failures` for
`auth.login_lockout_seconds`. While locked, login answers 429 with Retry-After, even for the right
password. A success clears the email's counter; IP counters only age out (after a lockout period
without failures), so a valid account cannot be used to reset an attacker's IP counter.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import text

from smarthub_mcp.config import AuthConfig
from smarthub_mcp.db import Database
from smarthub_mcp.errors import RateLimited
from smarthub_mcp.ids import now_ms

FREE_FAILURES = 2
FIRST_DELAY_SECONDS = 5


def buckets(email: str, ip: str | None) -> list[str]:
    found = ["email:" + hashlib.sha256(email.encode()).hexdigest()[:32]]
    if ip:
        found.append(f"ip:{ip[:64]}")
    return found


async def check(db: Database, keys: list[str]) -> None:
    """Raise RateLimited when any bucket is locked."""
    now = now_ms()
    async with db.read() as conn:
        rows = (
            await conn.execute(
                text("SELECT locked_until FROM login_failures WHERE bucket IN (" +
                     ", ".join(f":k{i}" for i in range(len(keys))) + ")"),
                {f"k{i}": k for i, k in enumerate(keys)},
            )
        ).all()
    locked_until = max((r.locked_until for r in rows), default=0)
    if locked_until > now:
        raise RateLimited("Too many failed logins; try again later", retry_after=(locked_until - now) / 1000)


def _lock_ms(failures: int, auth: AuthConfig) -> int:
    if failures >= auth.login_max_failures:
        return auth.login_lockout_seconds * 1000
    if failures <= FREE_FAILURES:
        return 0
    return min(FIRST_DELAY_SECONDS * 2 ** (failures - FREE_FAILURES - 1), auth.login_lockout_seconds) * 1000


async def record_failure(db: Database, keys: list[str], auth: AuthConfig) -> None:
    now = now_ms()
    stale_before = now - auth.login_lockout_seconds * 1000
    async with db.write() as conn:
        for key in keys:
            row = (
                await conn.execute(
                    text(
                        "INSERT INTO login_failures (bucket, failures, last_failed_at, locked_until)"
                        " VALUES (:k, 1, :now, 0)"
                        " ON CONFLICT (bucket) DO UPDATE SET"
                        "  failures = CASE WHEN login_failures.last_failed_at < :stale THEN 1"
                        "                  ELSE login_failures.failures + 1 END,"
                        "  last_failed_at = :now"
                        " RETURNING failures"
                    ),
                    {"k": key, "now": now, "stale": stale_before},
                )
            ).one()
            lock = _lock_ms(row.failures, auth)
            if lock:
                await conn.execute(
                    text("UPDATE login_failures SET locked_until = :until WHERE bucket = :k"),
                    {"until": now + lock, "k": key},
                )


async def clear(db: Database, email_key: str) -> None:
    async with db.write() as conn:
        await conn.execute(text("DELETE FROM login_failures WHERE bucket = :k"), {"k": email_key})
