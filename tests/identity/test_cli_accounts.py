"""`smarthub keys list|revoke`, `users disable|enable` and the password prompt, in process, on SQLite
and PostgreSQL; a disabled account is refused on every route and tool with one code."""

from __future__ import annotations

import json
import re

import pytest
from mcp import Client
from sqlalchemy import text

from smarthub_mcp.errors import Unauthenticated
from smarthub_mcp.identity.principals import principal_for_api_key
from smarthub_mcp.identity.verifier import SmartHubTokenVerifier
from smarthub_mcp.tools.server import build_mcp_server
from tests.clirunner import acli, cli
from tests.conftest import TEST_JWT_SECRET
from tests.factories import bearer, make_api_key, make_user_with_token
from tests.tools.results import error_of

UTC_TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"
PASSWORD = "a long enough password"


def env_for(database_url: str) -> dict[str, str]:
    return {"SMARTHUB_DATABASE_URL": database_url, "SMARTHUB_JWT_SECRET": TEST_JWT_SECRET,
            "SMARTHUB_AUTH__DEV_MODE": "false"}


async def test_keys_list_and_revoke_by_id_prefix_or_key(services, database_url):
    env = env_for(database_url)
    alice, _ = await make_user_with_token(services, email="alice@example.com")
    bob, _ = await make_user_with_token(services, email="bob@example.com")
    keys = [await make_api_key(services, alice, name=f"a{i}") for i in range(3)] + [
        await make_api_key(services, bob, name="b0")]
    listed = await acli("keys", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header == "ID\tPREFIX\tNAME\tOWNER\tCREATED\tLAST_USED\tEXPIRES\tREVOKED"
    assert [r.split("\t")[1:4] for r in rows] == [
        [keys[0][:12], "a0", "alice@example.com"], [keys[1][:12], "a1", "alice@example.com"],
        [keys[2][:12], "a2", "alice@example.com"], [keys[3][:12], "b0", "bob@example.com"]]
    assert all(re.fullmatch(rf"key_\w+\t\S+\t\w+\t\S+\t{UTC_TIME}\t-\t-\t-", r) for r in rows), rows
    only_bob = (await acli("keys", "list", "BOB@example.com", env=env)).stdout.splitlines()
    assert len(only_bob) == 2 and only_bob[1].split("\t")[2] == "b0"

    key_id = rows[0].split("\t")[0]
    by_id = await acli("keys", "revoke", key_id, env=env)
    assert by_id.returncode == 0 and key_id in by_id.stdout and "alice@example.com" in by_id.stdout
    by_whole_key = await acli("keys", "revoke", keys[1], env=env)
    assert by_whole_key.returncode == 0, by_whole_key.stderr
    by_short_prefix = await acli("keys", "revoke", keys[2][:8], env=env)
    if by_short_prefix.returncode != 0:  # 4 random characters may be shared with bob's key: say so
        assert "matches more than one active key" in by_short_prefix.stderr
        by_short_prefix = await acli("keys", "revoke", keys[2][:12], env=env)
    assert by_short_prefix.returncode == 0, by_short_prefix.stderr
    for key in keys[:3]:
        with pytest.raises(Unauthenticated):
            await principal_for_api_key(services, key)
    assert (await principal_for_api_key(services, keys[3])).email == "bob@example.com"
    assert len((await acli("keys", "list", env=env)).stdout.splitlines()) == 2
    with_revoked = (await acli("keys", "list", "--all", env=env)).stdout.splitlines()
    assert len(with_revoked) == 5 and sum(bool(re.search(UTC_TIME + "$", r)) for r in with_revoked) == 3
    async with services.db.read() as conn:
        audited = (await conn.execute(text("SELECT target_id FROM audit_log WHERE action = 'api_key.revoke'"
                                           " ORDER BY id"))).scalars().all()
    assert len(audited) == 3 and audited[0] == key_id


async def test_an_ambiguous_prefix_revokes_nothing_and_names_the_keys(services, database_url):
    env = env_for(database_url)
    user, _ = await make_user_with_token(services, email="alice@example.com")
    first, second = await make_api_key(services, user, name="laptop"), await make_api_key(services, user, name="ci")
    # Visible prefixes are unique, but two may share their first characters (here all but the last).
    shared = first[:11] + ("A" if first[11] != "A" else "B")
    async with services.db.write() as conn:
        await conn.execute(text("UPDATE api_keys SET prefix = :p WHERE prefix = :q"), {"p": shared, "q": second[:12]})
    ids = (await acli("keys", "list", env=env)).stdout.splitlines()[1:]
    ids = [r.split("\t")[0] for r in ids]
    for ref in (first[:11], first[:8]):
        refused = await acli("keys", "revoke", ref, env=env)
        assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
        assert "matches more than one active key" in refused.stderr and all(i in refused.stderr for i in ids)
        assert "give more of the prefix or the key id" in refused.stderr
    for ref, fragment in (("shk_", "at least 8 characters"), ("nonsense", "at least 8 characters"),
                          ("shk_zzzzzzzz", "no such active key"), ("key_nothere", "no such active key")):
        result = await acli("keys", "revoke", ref, env=env)
        assert result.returncode == 2 and fragment in result.stderr, (ref, result.stderr)
    for key in (first, second):
        assert (await principal_for_api_key(services, key)).email == "alice@example.com"
    assert (await acli("keys", "revoke", first[:12], env=env)).returncode == 0  # the whole prefix is unique
    with pytest.raises(Unauthenticated):
        await principal_for_api_key(services, first)
    assert (await acli("keys", "revoke", first[:8], env=env)).returncode == 0  # now only the other one matches
    with pytest.raises(Unauthenticated):
        await principal_for_api_key(services, second)


async def test_a_disabled_user_is_refused_everywhere_until_enabled(client, services, database_url):
    env = env_for(database_url)
    created = await acli("users", "create", "carol@example.com", "--password", PASSWORD, env=env)
    assert created.returncode == 0, created.stderr
    login = await client.post("/api/v1/auth/login", json={"email": "carol@example.com", "password": PASSWORD})
    token = login.json()["access_token"]
    user_id = (await client.get("/api/v1/auth/me", headers=bearer(token))).json()["id"]
    key = await make_api_key(services, user_id)
    assert (await client.get("/api/v1/auth/me", headers=bearer(key))).status_code == 200

    disabled = await acli("users", "disable", "Carol@example.com", env=env)
    assert disabled.returncode == 0 and disabled.stdout.strip() == "carol@example.com is now disabled"
    again = await acli("users", "disable", "carol@example.com", env=env)
    assert again.stdout.strip() == "carol@example.com is already disabled"
    assert "carol@example.com\tuser\tdisabled" in (await acli("users", "list", env=env)).stdout

    login = await client.post("/api/v1/auth/login", json={"email": "carol@example.com", "password": PASSWORD})
    assert login.status_code == 403 and login.json()["error"]["code"] == "account_disabled"
    for credential in (key, token):
        for method, path, body in (("GET", "/api/v1/auth/me", None), ("GET", "/api/v1/keys", None),
                                   ("POST", "/api/v1/tools/get_balance", {}), ("GET", "/v1/models", None)):
            r = await client.request(method, path, json=body, headers=bearer(credential))
            assert r.status_code == 403, (path, r.text)
            assert r.json()["error"]["code"] == "account_disabled", (path, r.text)
        assert await SmartHubTokenVerifier(services).verify_token(credential) is None  # /mcp: the SDK's 401
    async with Client(build_mcp_server(services, api_key=key)) as mcp:
        result = await mcp.call_tool("get_balance", {})
    assert error_of(result)["code"] == "account_disabled"
    refused = await acli("token", "carol@example.com", env=env)
    assert refused.returncode == 2 and "users enable carol@example.com" in refused.stderr
    stdio = await acli("stdio", env={**env, "SMARTHUB_API_KEY": key})
    assert stdio.returncode == 2 and "account is disabled" in stdio.stderr and "Traceback" not in stdio.stderr

    enabled = await acli("users", "enable", "carol@example.com", env=env)
    assert enabled.returncode == 0 and enabled.stdout.strip() == "carol@example.com is now enabled"
    assert (await client.get("/api/v1/auth/me", headers=bearer(key))).status_code == 200  # keys work again
    old = await client.get("/api/v1/auth/me", headers=bearer(token))  # sessions stayed ended
    assert old.status_code == 401 and old.json()["error"]["code"] == "unauthenticated"
    login = await client.post("/api/v1/auth/login", json={"email": "carol@example.com", "password": PASSWORD})
    assert login.status_code == 200
    async with services.db.read() as conn:
        rows = (await conn.execute(text("SELECT action, target_type, target_id, before_json, after_json, request_id"
                                        " FROM audit_log ORDER BY id"))).all()
    assert [(r.action, r.target_type, r.target_id, r.request_id) for r in rows] == [
        ("user.update", "user", user_id, "cli")] * 2  # the repeated disable changed nothing
    assert [json.loads(r.after_json) for r in rows] == [{"status": "disabled"}, {"status": "active"}]
    missing = await acli("users", "enable", "ghost@example.com", env=env)
    assert missing.returncode == 2 and "no user" in missing.stderr


def test_a_password_is_never_prompted_for_without_a_terminal(db, database_url, tmp_path):
    env = env_for(database_url)
    for args, stdin, fragment in (
        ((), None, "no terminal to prompt for a password: pass --password or --password-stdin"),
        (("--password-stdin",), "", "--password-stdin: standard input holds no password"),
        (("--password-stdin", "--password", PASSWORD), PASSWORD + "\n",
         "give --password or --password-stdin, not both"),
    ):
        result = cli("users", "create", "dave@example.com", *args, env=env, cwd=tmp_path, stdin=stdin)
        assert result.returncode == 2, (args, result.stdout)
        assert result.stderr == f"smarthub: {fragment}\n", result.stderr  # one line: no getpass warning
    made = cli("users", "create", "dave@example.com", "--password-stdin", env=env, cwd=tmp_path,
               stdin=PASSWORD + "\nignored second line\n")
    assert made.returncode == 0, made.stderr
    listed = cli("users", "list", env=env, cwd=tmp_path).stdout.splitlines()
    assert listed[0] == "ID\tEMAIL\tROLE\tSTATUS\tVERIFIED\tCREATED"
    assert re.fullmatch(rf"usr_\w+\tdave@example.com\tuser\tactive\tverified\t{UTC_TIME}", listed[1]), listed
