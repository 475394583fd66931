"""`smarthub credits ...` in process, on SQLite and PostgreSQL."""

from __future__ import annotations

import re

from mcp import Client
from sqlalchemy import text

from smarthub_mcp.billing.ledger import Ledger
from smarthub_mcp.tools.server import build_mcp_server
from tests.clirunner import acli
from tests.factories import make_api_key, make_user, make_user_with_token

UTC_TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"


async def cli(database_url: str, *args: str):
    return await acli("credits", *args, env={"SMARTHUB_DATABASE_URL": database_url})


async def test_grant_balance_history_and_check(db, database_url, tmp_path):
    user = await make_user(db, email="ops@example.com")
    granted = await cli(database_url, "grant", "ops@example.com", "2.5", "--reason", "goodwill",
                        "--idempotency-key", "t1")
    assert granted.returncode == 0, granted.stderr
    assert "balance 2.500000" in granted.stdout
    again = await cli(database_url, "grant", "ops@example.com", "2.5", "--idempotency-key", "t1")
    assert "balance 2.500000" in again.stdout
    assert again.returncode == 0 and again.stdout.startswith("already granted: idempotency key 't1'")
    assert "nothing changed" in again.stdout
    balance = await cli(database_url, "balance", "OPS@example.com")
    assert balance.stdout.splitlines() == ["balance 2.500000", "held 0.000000", "available 2.500000"]
    history = await cli(database_url, "history", "ops@example.com")
    assert history.stdout.count("\tgrant\t2.500000") == 1 and "goodwill" in history.stdout
    header, first = history.stdout.splitlines()[:2]
    assert header == "TIME\tID\tKIND\tAMOUNT\tBALANCE_AFTER\tMEMO" and re.match(UTC_TIME + "\tent_", first)
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


async def test_deduct_is_conditional_idempotent_and_audited(db, database_url):
    user = await make_user(db, email="ops@example.com")
    assert (await cli(database_url, "grant", "ops@example.com", "2")).returncode == 0
    taken = await cli(database_url, "deduct", "ops@example.com", "0.5", "--reason", "chargeback",
                      "--idempotency-key", "d1")
    assert taken.returncode == 0, taken.stderr
    assert taken.stdout.strip() == "deducted 0.500000 from ops@example.com; balance 1.500000"
    again = await cli(database_url, "deduct", "ops@example.com", "0.5", "--reason", "chargeback",
                      "--idempotency-key", "d1")
    assert again.returncode == 0 and again.stdout.startswith("already deducted: idempotency key 'd1'")
    assert again.stdout.rstrip().endswith("balance 1.500000")
    too_much = await cli(database_url, "deduct", "ops@example.com", "1.500001", "--reason", "x")
    assert too_much.returncode == 2 and too_much.stderr.count("\n") == 1
    assert "cannot deduct 1.500001" in too_much.stderr and "1.500000 available" in too_much.stderr
    reused = await cli(database_url, "deduct", "ops@example.com", "0.25", "--reason", "x", "--idempotency-key", "d1")
    assert reused.returncode == 2 and "already used for a different movement" in reused.stderr
    balance = await Ledger(db).balance(user)
    assert balance.balance == 1_500_000
    entries, _ = await Ledger(db).history(user)
    assert [(e.kind, e.amount, e.memo) for e in entries][:1] == [("adjustment", -500_000, "chargeback")]
    async with db.read() as conn:
        actions = (await conn.execute(text("SELECT action FROM audit_log ORDER BY id"))).scalars().all()
    assert actions == ["credits.grant", "credits.deduct"]  # the repeat moved nothing, so no second row
    assert (await cli(database_url, "check")).returncode == 0


async def test_a_negative_amount_points_to_deduct(db, database_url):
    user = await make_user(db, email="ops@example.com")
    for args in (("grant", "ops@example.com", "--", "-0.5"), ("grant", "ops@example.com", "-0.5")):
        result = await cli(database_url, *args)
        assert result.returncode == 2 and result.stderr.count("\n") == 1, (args, result.stderr)
        assert "smarthub credits deduct ops@example.com 0.5" in result.stderr, result.stderr
    negative = await cli(database_url, "deduct", "ops@example.com", "-1", "--reason", "x")
    assert negative.returncode == 2 and "AMOUNT must be positive" in negative.stderr
    assert (await Ledger(db).history(user))[0] == []


async def test_usage_lists_calls_with_times(db, database_url, services):
    user_id, _ = await make_user_with_token(services, email="caller@example.com")
    key = await make_api_key(services, user_id)
    async with Client(build_mcp_server(services, api_key=key)) as client:
        assert not (await client.call_tool("chat", {"prompt": "hi", "max_tokens": 8})).is_error
    listed = await cli(database_url, "usage", "caller@example.com")
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header == "TIME\tTOOL\tMODEL\tSTATUS\tERROR\tINPUT_TOKENS\tOUTPUT_TOKENS\tCREDITS"
    assert re.match(UTC_TIME + "\tchat\tdemo-chat\tok\t-\t", row), row
