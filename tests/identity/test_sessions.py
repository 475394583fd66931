"""Refresh-token rotation and reuse detection, logout, password change, login throttling."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from sqlalchemy import text

from tests.factories import bearer

PASSWORD = "correct horse battery"


async def login_from(app, ip: str, email: str, password: str):
    """One login attempt from the client address `ip` (each IP has its own throttle counter)."""
    from tests.identity.helpers import client_from

    async with client_from(app, ip) as c:
        return await c.post("/api/v1/auth/login", json={"email": email, "password": password})


@contextlib.asynccontextmanager
async def throttled_app(make_config, *, max_failures: int, lockout_seconds: int | None = None):
    """A client of an app with these login limits, where alice@example.com has signed up."""
    from tests.identity.helpers import app_client

    env = {"SMARTHUB_AUTH__LOGIN_MAX_FAILURES": str(max_failures)}
    if lockout_seconds is not None:
        env["SMARTHUB_AUTH__LOGIN_LOCKOUT_SECONDS"] = str(lockout_seconds)
    async with app_client(make_config(**env)) as client:
        await signup(client)
        yield client


async def signup(client, email="alice@example.com"):
    r = await client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert r.status_code == 201, r.text
    return r.json()


async def refresh(client, token):
    return await client.post("/api/v1/auth/refresh", json={"refresh_token": token})


async def test_refresh_rotates(client):
    first = await signup(client)
    r = await refresh(client, first["refresh_token"])
    assert r.status_code == 200
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["token_type"] == "bearer"
    assert (await client.get("/api/v1/auth/me", headers=bearer(second["access_token"]))).status_code == 200
    third = await refresh(client, second["refresh_token"])
    assert third.status_code == 200


async def test_reused_refresh_token_revokes_the_family(client):
    first = await signup(client)
    second = (await refresh(client, first["refresh_token"])).json()
    reuse = await refresh(client, first["refresh_token"])  # the old one, replayed
    assert reuse.status_code == 401 and reuse.json()["error"]["code"] == "invalid_refresh_token"
    # The legitimate holder's newer token died with the family, and so did every access token the
    # family handed out: the attacker's (from the first refresh) and the first login's.
    assert (await refresh(client, second["refresh_token"])).status_code == 401
    for access in (first["access_token"], second["access_token"]):
        me = await client.get("/api/v1/auth/me", headers=bearer(access))
        assert me.status_code == 401, me.text
    # Another login is another family, unaffected.
    other = await client.post("/api/v1/auth/login", json={"email": "alice@example.com", "password": PASSWORD})
    assert (await refresh(client, other.json()["refresh_token"])).status_code == 200


@pytest.mark.parametrize("value", ["", "nonsense", "x" * 300])
async def test_unknown_refresh_tokens(client, value):
    r = await refresh(client, value)
    assert r.status_code in (400, 401)


async def test_expired_refresh_token(client, services):
    first = await signup(client)
    async with services.db.write() as conn:
        await conn.execute(text("UPDATE refresh_tokens SET expires_at = 1"))
    assert (await refresh(client, first["refresh_token"])).status_code == 401


async def test_logout_revokes_family_and_access_token(client):
    tokens = await signup(client)
    r = await client.post(
        "/api/v1/auth/logout", headers=bearer(tokens["access_token"]), json={"refresh_token": tokens["refresh_token"]}
    )
    assert r.status_code == 200
    assert (await client.get("/api/v1/auth/me", headers=bearer(tokens["access_token"]))).status_code == 401
    assert (await refresh(client, tokens["refresh_token"])).status_code == 401


async def test_logout_cannot_touch_another_users_session(client):
    alice = await signup(client)
    bob = await signup(client, "bob@example.com")
    r = await client.post(
        "/api/v1/auth/logout", headers=bearer(bob["access_token"]), json={"refresh_token": alice["refresh_token"]}
    )
    assert r.status_code == 200
    assert (await refresh(client, alice["refresh_token"])).status_code == 200


async def test_change_password_ends_other_sessions(client):
    tokens = await signup(client)
    new = "a much better passphrase"
    wrong = await client.post(
        "/api/v1/auth/change-password", headers=bearer(tokens["access_token"]),
        json={"current_password": "not it at all", "new_password": new},
    )
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "wrong_password"
    weak = await client.post(
        "/api/v1/auth/change-password", headers=bearer(tokens["access_token"]),
        json={"current_password": PASSWORD, "new_password": "short"},
    )
    assert weak.status_code == 400 and weak.json()["error"]["code"] == "weak_password"
    r = await client.post(
        "/api/v1/auth/change-password", headers=bearer(tokens["access_token"]),
        json={"current_password": PASSWORD, "new_password": new},
    )
    assert r.status_code == 200
    assert (await refresh(client, tokens["refresh_token"])).status_code == 401
    assert (await client.get("/api/v1/auth/me", headers=bearer(r.json()["access_token"]))).status_code == 200
    old_login = await client.post("/api/v1/auth/login", json={"email": "alice@example.com", "password": PASSWORD})
    assert old_login.status_code == 401
    ok = await client.post("/api/v1/auth/login", json={"email": "alice@example.com", "password": new})
    assert ok.status_code == 200


async def test_login_throttling_per_email_without_revealing_existence(make_config, db):
    async with throttled_app(make_config, max_failures=4, lockout_seconds=600) as client:
        results = {}
        for n, email in enumerate(("alice@example.com", "nobody@example.com")):
            codes = []
            for i in range(5):
                # A fresh IP each time: only the email's counter is at work.
                r = await login_from(client.app, f"10.0.{n}.{i}", email, "wrong password")
                codes.append(r.status_code)
                if r.status_code == 429:
                    assert int(r.headers["retry-after"]) >= 1
                    assert r.json()["error"]["code"] == "rate_limited"
            results[email] = codes
        # Two free failures, the third locks for 5 seconds, so the fourth is refused; the same
        # sequence for a real and an unknown account.
        assert results["alice@example.com"] == [401, 401, 401, 429, 429]
        assert results["nobody@example.com"] == results["alice@example.com"]
        # While locked, even the right password is refused.
        right = await client.post("/api/v1/auth/login", json={"email": "alice@example.com", "password": PASSWORD})
        assert right.status_code == 429


async def test_a_burst_of_parallel_guesses_gets_only_the_free_attempts(make_config, db):
    """Every attempt is counted before its password is checked: forty guesses sent at once, the
    right password among the last of them, get the two free failures and a third attempt, then 429."""
    async with throttled_app(make_config, max_failures=5, lockout_seconds=600) as client:

        passwords = ["wrong password"] * 39 + [PASSWORD]  # a fresh IP each: only the email's counter
        responses = await asyncio.gather(
            *(login_from(client.app, f"10.7.0.{i}", "alice@example.com", p) for i, p in enumerate(passwords))
        )
        codes = [r.status_code for r in responses]
        assert sorted(codes) == [401] * 3 + [429] * 37, codes
        right = await client.post("/api/v1/auth/login", json={"email": "alice@example.com", "password": PASSWORD})
        assert right.status_code == 429


async def test_the_right_password_gives_its_attempt_back(make_config, db):
    from tests.identity.helpers import client_from

    async with throttled_app(make_config, max_failures=4, lockout_seconds=600) as client:
        async with client_from(client.app, "10.8.8.8") as c:
            for _ in range(10):  # ten logins in a row from one IP are not ten failures
                r = await c.post("/api/v1/auth/login", json={"email": "alice@example.com", "password": PASSWORD})
                assert r.status_code == 200
            for i, expected in enumerate((401, 401, 401, 429)):  # and the IP's counter starts from zero
                r = await c.post("/api/v1/auth/login", json={"email": f"x{i}@example.com", "password": "wrong pw"})
                assert r.status_code == expected


async def test_login_throttling_per_ip(make_config, db):
    from tests.identity.helpers import client_from

    async with throttled_app(make_config, max_failures=3) as client:
        async with client_from(client.app, "10.9.9.9") as attacker:
            for i in range(3):  # a different email each time: only the IP's counter grows
                await attacker.post("/api/v1/auth/login", json={"email": f"x{i}@example.com", "password": "nope nope"})
            r = await attacker.post("/api/v1/auth/login", json={"email": "alice@example.com", "password": PASSWORD})
            assert r.status_code == 429
        async with client_from(client.app, "10.1.1.1") as someone_else:
            r = await someone_else.post("/api/v1/auth/login", json={"email": "alice@example.com", "password": PASSWORD})
            assert r.status_code == 200


async def test_lockout_after_max_failures_and_counters_are_in_the_database(make_config, db):
    from tests.identity.helpers import app_client

    config = make_config(SMARTHUB_AUTH__LOGIN_MAX_FAILURES="3", SMARTHUB_AUTH__LOGIN_LOCKOUT_SECONDS="900")
    async with app_client(config) as client:
        await signup(client)
        for _ in range(3):
            await client.post("/api/v1/auth/login", json={"email": "alice@example.com", "password": "wrong pw!!"})
        r = await client.post("/api/v1/auth/login", json={"email": "alice@example.com", "password": PASSWORD})
        assert r.status_code == 429
        assert int(r.headers["retry-after"]) > 800
    # A second replica (another app on the same database) sees the same lockout.
    async with app_client(config) as other:
        r = await other.post("/api/v1/auth/login", json={"email": "alice@example.com", "password": PASSWORD})
        assert r.status_code == 429
