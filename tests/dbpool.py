"""Migrated databases for tests, made once per test session and handed out fresh.

Migrating a database costs ~0.1 s on SQLite and ~0.3 s on PostgreSQL (129 DDL statements), about
ten times what a typical test then does with it. So each session migrates once, with the real
`upgrade`, and a test that asks for the `db` fixture gets:

- SQLite: a copy of the migrated file (a few milliseconds).
- PostgreSQL: a schema of this session's pool, emptied and given back exactly the rows the
  migrations seeded (roles, starter templates, `schema_migrations`) in one transaction of a few
  milliseconds; the pool grows when every schema is taken. A schema that cannot be reset (a lock
  that outlived its test) is abandoned for a fresh one, never shared.

Tests that migrate by themselves (`database_url` without `db`) still get an empty database.
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

import asyncpg

from smarthub_mcp.db import Database
from smarthub_mcp.migrations import upgrade


async def migrated_sqlite_file(directory: Path) -> Path:
    path = directory / "migrated.db"
    database = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await upgrade(database)
    finally:
        await database.close()  # the last connection checkpoints the WAL into the file
    return path


def copy_sqlite(template: Path, target: Path) -> None:
    shutil.copyfile(template, target)


class SchemaPool:
    """Migrated schemas in one PostgreSQL database (the session's), reused from test to test."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._admin: asyncpg.Connection | None = None
        self._free: list[str] = []
        self._tables: list[str] = []
        self._seed = f"seed_{secrets.token_hex(4)}"
        self._seeded: list[str] = []

    async def take(self) -> str:
        """A migrated schema holding only the migrations' own rows, for one test."""
        admin = await self._connection()
        while self._free:
            schema = self._free.pop()
            try:
                async with admin.transaction():
                    await admin.execute(self._reset_sql(schema))
                return schema
            except asyncpg.PostgresError:  # still locked by something of its last test: leave it be
                continue
        return await self._create(admin)

    def give_back(self, schema: str) -> None:
        self._free.append(schema)

    async def close(self) -> None:
        if self._admin is not None:
            await self._admin.close()

    async def _connection(self) -> asyncpg.Connection:
        if self._admin is None:
            self._admin = await asyncpg.connect(self.database_url.replace("postgresql+asyncpg://", "postgresql://"))
        return self._admin

    async def _create(self, admin: asyncpg.Connection) -> str:
        schema = f"t_{secrets.token_hex(6)}"
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        database = Database(f"{self.database_url}?search_path={schema}", pool_size=1)
        try:
            await upgrade(database)
        finally:
            await database.close()
        if not self._tables:
            await self._snapshot(admin, schema)
        return schema

    async def _snapshot(self, admin: asyncpg.Connection, schema: str) -> None:
        """Keep the first migrated schema's rows in a schema of their own: what a reset restores."""
        self._tables = [r[0] for r in await admin.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename", schema)]
        await admin.execute(f'CREATE SCHEMA "{self._seed}"')
        for table in self._tables:
            if await admin.fetchval(f'SELECT EXISTS (SELECT 1 FROM "{schema}"."{table}")'):
                await admin.execute(f'CREATE TABLE "{self._seed}"."{table}" AS SELECT * FROM "{schema}"."{table}"')
                self._seeded.append(table)

    def _reset_sql(self, schema: str) -> str:
        # Triggers (the ledger's append-only guard) and foreign keys are off for this transaction
        # only (`replica`), so every table empties in any order; a lock still held fails fast.
        statements = ["SET LOCAL lock_timeout = '2s'", "SET LOCAL session_replication_role = replica"]
        statements += [f'DELETE FROM "{schema}"."{t}"' for t in self._tables]
        statements += [f'INSERT INTO "{schema}"."{t}" SELECT * FROM "{self._seed}"."{t}"' for t in self._seeded]
        return ";\n".join(statements)
