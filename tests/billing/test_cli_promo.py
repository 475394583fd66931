"""`smarthub promo create|list|disable` in process, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from tests.clirunner import acli


async def cli(database_url: str, *args: str):
    return await acli("promo", *args, env={"SMARTHUB_DATABASE_URL": database_url})


async def test_create_list_disable(db, database_url):
    made = await cli(database_url, "create", "--credits", "2.5", "--code", "launch-day", "--max-redemptions", "3",
                     "--expires", "2999-01-01T00:00Z")
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == "LAUNCHDAY"
    generated = (await cli(database_url, "create", "--credits", "1", "--new-users-only")).stdout.strip()
    assert len(generated) == 10 and not set(generated) & set("0O1I")
    listed = json.loads((await cli(database_url, "list", "--json")).stdout)
    assert {c["code"]: c["credits"] for c in listed} == {"LAUNCHDAY": "2.500000", generated: "1.000000"}
    assert (await cli(database_url, "disable", "Launch-Day")).stdout.strip() == "disabled LAUNCHDAY"
    table = (await cli(database_url, "list")).stdout
    assert "LAUNCHDAY" not in table and generated in table
    assert "LAUNCHDAY" in (await cli(database_url, "list", "--all")).stdout


async def test_bad_input_is_one_line_and_exit_2(db, database_url):
    dup = await cli(database_url, "create", "--credits", "1", "--code", "SAME")
    assert dup.returncode == 0
    again = await cli(database_url, "create", "--credits", "1", "--code", "same")
    assert again.returncode == 2 and again.stderr.count("\n") == 1
    bad = await cli(database_url, "create", "--credits", "-3")
    assert bad.returncode == 2 and "credits" in bad.stderr
    missing = await cli(database_url, "disable", "NOPE")
    assert missing.returncode == 2
