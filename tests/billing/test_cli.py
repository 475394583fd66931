"""`smarthub credits ...` in a subprocess, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from smarthub_mcp.billing.ledger import Ledger
from tests.factories import make_user
from tests.test_cli_commands import _cli


async def cli(database_url: str, *args: str):
    return await asyncio.to_thread(_cli, "credits", *args, env={"SMARTHUB_DATABASE_URL": database_url})


async def test_grant_balance_history_and_check(db, database_url, tmp_path):
    user = await make_user(db, email="ops@example.com")
    granted = await cli(database_url, "grant", "ops@example.com", "2.5", "--reason", "goodwill",
                        "--idempotency-key", "t1")
    assert granted.returncode == 0, granted.stderr
    assert "balance 2.500000" in granted.stdout
    again = await cli(database_url, "grant", "ops@example.com", "2.5", "--idempotency-key", "t1")
    assert "balance 2.500000" in again.stdout
    balance = await cli(database_url, "balance", "OPS@example.com")
    assert balance.stdout.splitlines() == ["balance 2.500000", "held 0.000000", "available 2.500000"]
    history = await cli(database_url, "history", "ops@example.com")
    assert history.stdout.count("\tgrant\t2.500000") == 1 and "goodwill" in history.stdout
    assert (await cli(database_url, "check")).returncode == 0
    async with db.write() as conn:  # a direct write that bypasses the ledger
        await conn.execute(text("UPDATE accounts SET balance = balance + 7 WHERE user_id = :u"), {"u": user})
    drifted = await cli(database_url, "check")
    assert drifted.returncode == 1 and f"DRIFT {user}" in drifted.stdout
    assert (await Ledger(db).check())[0].user_id == user


async def test_bad_input_is_one_line_and_exit_2(db, database_url):
    missing = await cli(database_url, "balance", "nobody@example.com")
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    bad = await cli(database_url, "grant", "nobody@example.com", "1.1234567")
    assert bad.returncode == 2 and "AMOUNT" in bad.stderr
    huge = await cli(database_url, "grant", "nobody@example.com", "1e999999")
    assert huge.returncode == 2 and "AMOUNT" in huge.stderr and "Traceback" not in huge.stderr
