"""Migrations and the schema: statement splitting, idempotent upgrades, SQLite page size."""

from __future__ import annotations

import contextlib

from smarthub_mcp.db import Database
from smarthub_mcp.migrations import applied_versions, available, select_dialect, split_statements, upgrade


def test_statement_splitter_keeps_trigger_bodies():
    sql = (
        "CREATE TABLE a (x INTEGER);\n-- @sqlite\nCREATE TRIGGER t BEFORE UPDATE ON a\nBEGIN\n"
        "  SELECT RAISE(ABORT, 'no');\nEND;\n-- @end\n-- @postgresql\nCREATE FUNCTION f() RETURNS trigger AS $$\n"
        "BEGIN\n  RAISE EXCEPTION 'no';\nEND;\n$$ LANGUAGE plpgsql;\n-- @end\n"
    )
    sqlite = split_statements(select_dialect(sql, "sqlite"))
    pg = split_statements(select_dialect(sql, "postgresql"))
    assert len(sqlite) == 2 and sqlite[1].endswith("END;")
    assert len(pg) == 2 and pg[1].endswith("LANGUAGE plpgsql;")


async def test_upgrade_twice_is_idempotent(database_url):
    database = Database(database_url)
    try:
        first = await upgrade(database)
        second = await upgrade(database)
        assert [m.version for m in first] == [m.version for m in available()]
        assert second == []
        assert await applied_versions(database) == {m.version for m in available()}
    finally:
        await database.close()


async def test_a_new_sqlite_database_gets_small_pages_and_an_old_one_keeps_its_own(tmp_path):
    import sqlite3

    from smarthub_mcp.db import SQLITE_PAGE_SIZE

    old = tmp_path / "old.db"
    with contextlib.closing(sqlite3.connect(old)) as conn:
        conn.execute("PRAGMA page_size=4096")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE before_us (a)")
    for path in (tmp_path / "new.db", old):
        db = Database(f"sqlite:///{path}")
        try:
            await upgrade(db)
            assert await applied_versions(db)
        finally:
            await db.close()
    sizes = {}
    for path in (tmp_path / "new.db", old):
        with contextlib.closing(sqlite3.connect(path)) as conn:
            sizes[path.name] = conn.execute("PRAGMA page_size").fetchone()[0]
    assert sizes == {"new.db": SQLITE_PAGE_SIZE, "old.db": 4096}
