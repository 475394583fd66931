"""Schema migrations: `sql/schema.sql` is version 1, `sql/NNNN_name.sql` come after it.

`upgrade` applies, in order and each in its own transaction, every version not yet recorded in
`schema_migrations`; running it twice changes nothing. On PostgreSQL an advisory lock keeps two
replicas that start at once from applying the same step twice.

SQL files are portable by default. Lines between `-- @sqlite` and `-- @end` (or `-- @postgresql`
and `-- @end`) run only on that database: triggers are the main reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import asyncpg
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp.db import Database
from smarthub_mcp.errors import DatabaseNotReady
from smarthub_mcp.ids import now_ms

_ADVISORY_LOCK_ID = 0x5E4B_0001
_FILE_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available() -> list[Migration]:
    root = resources.files("smarthub_mcp") / "sql"
    found = [Migration(1, "schema", (root / "schema.sql").read_text(encoding="utf-8"))]
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        m = _FILE_RE.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(versions) != len(set(versions)) or versions != sorted(versions):
        raise RuntimeError(f"migration versions must be unique and ordered: {versions}")
    return found


def select_dialect(sql: str, dialect: str) -> str:
    """Keep portable lines and the lines of `dialect`'s blocks."""
    keep: list[str] = []
    block: str | None = None
    for line in sql.splitlines():
        marker = line.strip()
        if marker in ("-- @sqlite", "-- @postgresql"):
            block = marker[4:]
            continue
        if marker == "-- @end":
            block = None
            continue
        if block is None or block == dialect:
            keep.append(line)
    return "\n".join(keep)


def split_statements(sql: str) -> list[str]:
    """Split on `;` at line ends, keeping trigger bodies (BEGIN...END;) and $$ bodies whole."""
    statements: list[str] = []
    current: list[str] = []
    in_dollar = False
    in_trigger = False
    for line in sql.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("--")):
            continue
        current.append(line)
        if line.count("$$") % 2 == 1:
            in_dollar = not in_dollar
        upper = stripped.upper()
        # Only a trigger with a BEGIN...END body (SQLite) spans `;` lines; a PostgreSQL trigger
        # (EXECUTE FUNCTION ...) ends at its first `;`.
        if not in_dollar and (upper == "BEGIN" or upper.endswith(" BEGIN")) and current[0].strip().upper().startswith(
            "CREATE TRIGGER"
        ):
            in_trigger = True
        if in_dollar or not stripped.endswith(";"):
            continue
        if in_trigger and upper not in ("END;",):
            continue
        in_trigger = False
        statements.append("\n".join(current).strip())
        current = []
    tail = "\n".join(current).strip()
    if tail:
        statements.append(tail)
    return statements


async def applied_versions(db: Database) -> set[int]:
    async with db.read() as conn:
        return await _versions_in(conn, db)


async def pending(db: Database) -> list[Migration]:
    done = await applied_versions(db)
    return [m for m in available() if m.version not in done]


async def upgrade(db: Database) -> list[Migration]:
    """Apply what is missing; return what was applied."""
    applied: list[Migration] = []
    for migration in available():
        async with db.write() as conn:
            if not db.is_sqlite:
                await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK_ID})
            if migration.version in await _versions_in(conn, db):
                continue
            for statement in split_statements(select_dialect(migration.sql, db.dialect)):
                await conn.exec_driver_sql(statement)
            await conn.execute(
                text("INSERT INTO schema_migrations (version, name, applied_at) VALUES (:v, :n, :t)"),
                {"v": migration.version, "n": migration.name, "t": now_ms()},
            )
            applied.append(migration)
    return applied


async def _versions_in(conn: AsyncConnection, db: Database) -> set[int]:
    if db.is_sqlite:
        found = (
            await conn.execute(text("SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_migrations'"))
        ).first()
    else:
        found = (await conn.execute(text("SELECT to_regclass('schema_migrations')::text"))).scalar()
    if not found:
        return set()
    return {r[0] for r in await conn.execute(text("SELECT version FROM schema_migrations"))}


async def check_reachable(db: Database) -> None:
    """Raise DatabaseNotReady, in one line, when the database does not answer."""
    try:
        await db.ping()
    # asyncpg raises some refusals at connect time unwrapped (a wrong role, a missing database).
    except (OSError, OperationalError, DBAPIError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise DatabaseNotReady(f"cannot reach the database: {_short(exc)}") from None


async def ensure_ready(db: Database, *, auto_upgrade: bool) -> None:
    """At start-up: reach the database, then upgrade it (SQLite) or refuse if it lags (PostgreSQL)."""
    await check_reachable(db)
    if auto_upgrade:
        await upgrade(db)
        return
    missing = await pending(db)
    if missing:
        names = ", ".join(f"{m.version:04d}_{m.name}" for m in missing)
        raise DatabaseNotReady(
            f"the database schema is behind ({names} not applied); run `smarthub db upgrade` first"
        )


def _short(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return str(orig).strip().splitlines()[0][:200] if str(orig).strip() else type(orig).__name__
