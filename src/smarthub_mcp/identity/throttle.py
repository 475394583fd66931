"""Login throttling, with counters in the database so every replica shares them.

Failures are counted per email (hashed, known or not, so the answer never reveals whether an
account exists) and per client IP. The first two failures are free; after that each failure
locks the bucket for a doubling delay (5 s, 10 s, 20 s, ...), and at `auth.login_max_failures` for
`auth.login_lockout_seconds`. While locked, login answers 429 with Retry-After, even for the right
password. An attempt is counted before its password is checked (so a burst of parallel guesses
cannot all slip past the lock) and given back when the password was right. A success clears the
email's counter; IP counters only age out (after a lockout period without failures), so a valid
account cannot be used to reset an attacker's IP counter.
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


def _lock_ms(failures: int, auth: AuthConfig) -> int:
    if failures >= auth.login_max_failures:
        return auth.login_lockout_seconds * 1000
    if failures <= FREE_FAILURES:
        return 0
    return min(FIRST_DELAY_SECONDS * 2 ** (failures - FREE_FAILURES - 1), auth.login_lockout_seconds) * 1000


async def begin_attempt(db: Database, keys: list[str], auth: AuthConfig) -> None:
    """Count one attempt in every bucket *before* the password is checked, or raise RateLimited when
    a bucket is locked (that attempt is then not counted).

    Counting first is what holds under concurrency: with check-then-record, every guess sent at the
    same moment passes the check before any failure is written. Here each attempt's count (and the
    lock it earns) is written under the bucket's row lock, so a burst gets the free attempts and then
    429s. A correct password gives its attempt back (`succeeded`)."""
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
                        "  failures = CASE WHEN login_failures.locked_until > :now THEN login_failures.failures"
                        "                  WHEN login_failures.last_failed_at < :stale THEN 1"
                        "                  ELSE login_failures.failures + 1 END,"
                        "  last_failed_at = CASE WHEN login_failures.locked_until > :now"
                        "                        THEN login_failures.last_failed_at ELSE :now END"
                        " RETURNING failures, locked_until"
                    ),
                    {"k": key, "now": now, "stale": stale_before},
                )
            ).one()
            if row.locked_until > now:  # raising rolls back the buckets already counted
                raise RateLimited(
                    "Too many failed logins; try again later", retry_after=(row.locked_until - now) / 1000
                )
            lock = _lock_ms(row.failures, auth)
            if lock:
                await conn.execute(
                    text("UPDATE login_failures SET locked_until = :until WHERE bucket = :k"),
                    {"until": now + lock, "k": key},
                )


async def succeeded(db: Database, keys: list[str]) -> None:
    """The password was right: clear the email's bucket (`keys[0]`) and give the attempt back to the
    others. An IP bucket keeps its failures and any lock: a valid account must not reset it."""
    async with db.write() as conn:
        await conn.execute(text("DELETE FROM login_failures WHERE bucket = :k"), {"k": keys[0]})
        for key in keys[1:]:
            await conn.execute(
                text("UPDATE login_failures SET failures = failures - 1 WHERE bucket = :k AND failures > 0"),
                {"k": key},
            )
