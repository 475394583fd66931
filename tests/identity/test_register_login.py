"""Registration, login, the user-created hooks, password policy and rehashing."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from sqlalchemy import text

from smarthub_mcp.app import build_app
from smarthub_mcp.compose import build_services
from smarthub_mcp.identity.users import create_user
from smarthub_mcp.services import Services
from tests.conftest import running_app
from tests.factories import bearer

PASSWORD = "correct horse battery"


async def register(client, email="alice@example.com", password=PASSWORD, **extra):
    return await client.post("/api/v1/auth/register", json={"email": email, "password": password, **extra})


async def count_users(services: Services) -> int:
    async with services.db.read() as conn:
        return (await conn.execute(text("SELECT COUNT(*) FROM users"))).scalar()


async def test_register_answers_201_with_user_and_tokens(client):
    r = await register(client, email="  Alice@Example.COM ", display_name="Alice")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["user"]["email"] == "alice@example.com"
    assert body["user"]["role"] == "user" and body["user"]["status"] == "active"
    assert body["user"]["email_verified"] is False
    assert body["token_type"] == "bearer" and body["expires_in"] == 900
    me = await client.get("/api/v1/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["email"] == "alice@example.com"
    assert "tools:chat" in me.json()["permissions"]
    assert "users:manage" not in me.json()["permissions"]


async def test_login_and_wrong_password(client):
    await register(client)
    ok = await client.post("/api/v1/auth/login", json={"email": "ALICE@example.com", "password": PASSWORD})
    assert ok.status_code == 200
    assert set(ok.json()) == {"access_token", "refresh_token", "token_type", "expires_in"}
    bad = await client.post("/api/v1/auth/login", json={"email": "alice@example.com", "password": "wrong" * 3})
    unknown = await client.post("/api/v1/auth/login", json={"email": "bob@example.com", "password": PASSWORD})
    assert bad.status_code == unknown.status_code == 401
    assert bad.json()["error"]["code"] == unknown.json()["error"]["code"] == "invalid_credentials"
    assert bad.json()["error"]["message"] == unknown.json()["error"]["message"]


@pytest.mark.parametrize("email", ["alice@example.com", "ALICE@EXAMPLE.COM", " Alice@example.com",
                                   "\uff41\uff4c\uff49\uff43\uff45@example.com"])  # full-width: the same address
async def test_taken_email_in_any_case_is_409(client, services, email):
    assert (await register(client)).status_code == 201
    r = await register(client, email=email)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "email_taken"
    assert await count_users(services) == 1


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"email": "not-an-email", "password": PASSWORD}, 400, "invalid_email"),
        ({"email": "a@b", "password": PASSWORD}, 400, "invalid_email"),
        ({"email": "a b@example.com", "password": PASSWORD}, 400, "invalid_email"),
        # Look-alikes: a Cyrillic \u0430 among Latin letters, in the local part or in a domain label.
        ({"email": "\u0430lice@example.com", "password": PASSWORD}, 400, "invalid_email"),
        ({"email": "alice@ex\u0430mple.com", "password": PASSWORD}, 400, "invalid_email"),
        ({"email": "x@example.com", "password": "short"}, 400, "weak_password"),
        ({"email": "x@example.com", "password": "\uff41\uff42\uff43\uff44\uff45"}, 400, "weak_password"),
        ({"email": "x@example.com", "password": "p" * 2000}, 400, "invalid_request"),
        ({"email": "x" * 400 + "@example.com", "password": PASSWORD}, 400, "invalid_request"),
        ({"email": "x@example.com", "password": PASSWORD, "display_name": "n" * 150}, 400, "invalid_request"),
        ({"email": "x@example.com", "password": PASSWORD, "display_name": "bad\u0000name"}, 400, "invalid_request"),
        ({"email": "x@example.com", "password": PASSWORD, "display_name": "rtl\u202eevil"}, 400, "invalid_request"),
        # A NUL anywhere in a JSON body is refused by the body reader, before the password rules.
        ({"email": "x@example.com", "password": "nul\u0000" + PASSWORD}, 400, "invalid_request"),
        ({"email": "x@example.com"}, 400, "invalid_request"),
        ({"email": "x@example.com", "password": PASSWORD, "role": "admin"}, 400, "invalid_request"),
        ({"email": 5, "password": PASSWORD}, 400, "invalid_request"),
    ],
)
async def test_bad_registrations_are_refused_and_nothing_is_created(client, services, body, status, code):
    r = await client.post("/api/v1/auth/register", json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert await count_users(services) == 0


async def test_unicode_emails_are_normalized_once(client):
    # Decomposed and composed forms of the same address are the same account.
    first = await register(client, email="Jose\u0301@example.com")
    assert first.status_code == 201, first.text
    assert first.json()["user"]["email"] == "jos\u00e9@example.com"
    again = await register(client, email="JOS\u00c9@example.com")
    assert again.status_code == 409
    # One script throughout is an address like any other (Cyrillic, Japanese).
    for email in ("\u0430\u043b\u0438\u0441\u0430@example.com", "\u3072\u3089\u304c\u306a\u6f22\u5b57@example.jp"):
        assert (await register(client, email=email)).status_code == 201, email


async def test_malformed_json_and_oversized_body(client):
    r = await client.post("/api/v1/auth/register", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    r = await client.post("/api/v1/auth/register", content=b"[1, 2]")
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request"
    r = await client.post("/api/v1/auth/register", content=b'{"email": "' + b"a" * 20_000 + b'"}')
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    r = await client.post("/api/v1/auth/login", json={"email": "a@example.com", "password": ["x"]})
    assert r.status_code == 400
    assert r.json()["error"]["details"]["fields"][0]["field"] == "password"


async def test_hooks_run_in_the_registration_transaction(config, db):
    services = build_services(config)
    seen: list[str] = []

    async def open_account(conn, user_id):
        # Inside the transaction the new row is visible.
        row = (await conn.execute(text("SELECT email FROM users WHERE id = :id"), {"id": user_id})).scalar()
        seen.append(row)

    services.user_created_hooks.append(open_account)
    user = await create_user(services, "hooked@example.com", PASSWORD)
    assert seen == ["hooked@example.com"]

    async def broken(conn, user_id):
        raise RuntimeError("ledger down")

    services.user_created_hooks.append(broken)
    app = build_app(services=services)
    async with running_app(app):
        import httpx

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            r = await register(c, email="second@example.com")
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "internal_error"
    async with db.read() as conn:
        emails = [e for (e,) in await conn.execute(text("SELECT email FROM users"))]
    assert emails == [user.email]  # the failed registration left nothing behind


async def test_login_rehashes_when_parameters_change(client, services):
    await register(client)
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    async with services.db.write() as conn:
        await conn.execute(text("UPDATE users SET password_hash = :h"), {"h": weak})
    r = await client.post("/api/v1/auth/login", json={"email": "alice@example.com", "password": PASSWORD})
    assert r.status_code == 200
    async with services.db.read() as conn:
        stored = (await conn.execute(text("SELECT password_hash FROM users"))).scalar()
    assert stored != weak
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


async def test_disabled_user_cannot_log_in(client, services):
    await register(client)
    async with services.db.write() as conn:
        await conn.execute(text("UPDATE users SET status = 'disabled'"))
    r = await client.post("/api/v1/auth/login", json={"email": "alice@example.com", "password": PASSWORD})
    assert r.status_code == 403 and r.json()["error"]["code"] == "account_disabled"


async def test_sign_ups_are_capped_per_client_ip(make_config, db):
    """Each account comes with sign-up credits: one network gets `signups_per_ip_per_hour` of them."""
    from tests.identity.helpers import app_client, client_from

    config = make_config(SMARTHUB_AUTH__SIGNUPS_PER_IP_PER_HOUR="3")
    async with app_client(config) as client:
        codes = []
        async with client_from(client.app, "10.3.3.3") as same:
            for i in range(4):
                body = {"email": f"farm{i}@example.com", "password": PASSWORD}
                r = await same.post("/api/v1/auth/register", json=body)
                codes.append(r.status_code)
        assert codes == [201, 201, 201, 429]
        assert r.json()["error"]["code"] == "rate_limited" and int(r.headers["retry-after"]) > 0
        async with client_from(client.app, "10.4.4.4") as other:
            r = await other.post("/api/v1/auth/register", json={"email": "farm3@example.com", "password": PASSWORD})
            assert r.status_code == 201
        async with client.services.db.read() as conn:
            assert (await conn.execute(text("SELECT COUNT(*) FROM users"))).scalar() == 4


async def test_emails_to_one_address_are_capped(make_config, db):
    """Reset and resent verification emails share `emails_per_address_per_hour`: past it, a reset
    request still answers 202 (it never tells) but sends nothing, and a resend is refused."""
    from tests.identity.helpers import app_client

    config = make_config(SMARTHUB_AUTH__EMAILS_PER_ADDRESS_PER_HOUR="2")
    async with app_client(config) as client:
        r = await client.post("/api/v1/auth/register", json={"email": "capped@example.com", "password": PASSWORD})
        token = r.json()["access_token"]
        for _ in range(4):
            r = await client.post("/api/v1/auth/forgot-password", json={"email": "capped@example.com"})
            assert r.status_code == 202
        async with client.services.db.read() as conn:
            subjects = (await conn.execute(text("SELECT subject FROM email_outbox WHERE recipient = :r"),
                                           {"r": "capped@example.com"})).scalars().all()
        assert sorted(subjects) == ["Confirm your SmartHub email address"] + ["Reset your SmartHub password"] * 2
        r = await client.post("/api/v1/auth/resend-verification", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
