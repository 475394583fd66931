"""Which database failures are outages (503, retry later) and which are faults (500): read from
real errors, raised by a real SQLite and a real PostgreSQL."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine

from smarthub_mcp.dbfaults import outage_of
from smarthub_mcp.errors import DatabaseUnavailable


def test_a_full_sqlite_database_is_an_outage(tmp_path):
    conn = sqlite3.connect(tmp_path / "small.db")
    conn.execute("PRAGMA max_page_count = 8")  # SQLite's own "database or disk is full" (SQLITE_FULL)
    conn.execute("CREATE TABLE t (b BLOB)")
    with pytest.raises(sqlite3.OperationalError) as full:
        for _ in range(100):
            conn.execute("INSERT INTO t VALUES (?)", (b"x" * 4096,))
    conn.close()
    outage = outage_of(full.value)
    assert isinstance(outage, DatabaseUnavailable) and outage.headers == {"Retry-After": "2"}
    assert "went away during this call" in outage.message and "balance and history" in outage.message


async def test_a_broken_rule_or_a_bug_is_not_an_outage(tmp_path):
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE u (id INTEGER PRIMARY KEY)"))
        await conn.execute(text("INSERT INTO u VALUES (1)"))
    with pytest.raises(IntegrityError) as duplicate:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO u VALUES (1)"))
    await engine.dispose()
    assert outage_of(duplicate.value) is None
    assert outage_of(ValueError("a bug")) is None
    try:
        raise RuntimeError("wrapped") from ConnectionResetError("a provider's socket")
    except RuntimeError as exc:
        assert outage_of(exc) is None, "a socket error alone does not say it was the database"
