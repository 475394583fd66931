"""The store's point reads."""

from __future__ import annotations


async def test_fetch_point_reads(db):
    rows = await db.fetch("SELECT version, name FROM schema_migrations WHERE version = :v", {"v": 1})
    assert rows[0].version == 1 and rows[0][1] == "schema"
    assert await db.fetch_one("SELECT version FROM schema_migrations WHERE version = :v", {"v": -1}) is None
