"""Email flows against a real SMTP sink (aiosmtpd on loopback): verification, reset, outbox."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from smarthub_mcp.compose import build_services
from smarthub_mcp.errors import Forbidden
from smarthub_mcp.identity.email import send_email
from smarthub_mcp.identity.principals import require_paid_access
from tests.conftest import free_port
from tests.factories import bearer
from tests.identity.helpers import token_in

PASSWORD = "correct horse battery"


async def test_registration_sends_a_verification_link_that_works_once(mail_client):
    client = mail_client
    r = await client.post("/api/v1/auth/register", json={"email": "new@example.com", "password": PASSWORD})
    tokens = r.json()
    msg = await client.sink.next()
    assert msg["To"] == "new@example.com"
    assert "https://hub.example.com/verify-email?token=" in msg.get_content()
    token = token_in(msg)
    ok = await client.post("/api/v1/auth/verify-email", json={"token": token})
    assert ok.status_code == 200 and ok.json()["user"]["email_verified"] is True
    again = await client.post("/api/v1/auth/verify-email", json={"token": token})
    assert again.status_code == 400 and again.json()["error"]["code"] == "invalid_token"
    me = await client.get("/api/v1/auth/me", headers=bearer(tokens["access_token"]))
    assert me.json()["email_verified"] is True
    r = await client.post("/api/v1/auth/resend-verification", headers=bearer(tokens["access_token"]))
    assert r.json()["status"] == "already_verified"
    # The outbox keeps the message, without the link's secret.
    async with client.services.db.read() as conn:
        rows = (await conn.execute(text("SELECT status, body FROM email_outbox"))).all()
    assert [r.status for r in rows] == ["sent"]
    assert token not in rows[0].body and "[redacted]" in rows[0].body


async def test_expired_verification_token_is_refused(mail_client):
    client = mail_client
    r = await client.post("/api/v1/auth/register", json={"email": "late@example.com", "password": PASSWORD})
    token = token_in(await client.sink.next())
    async with client.services.db.write() as conn:
        await conn.execute(text("UPDATE email_tokens SET expires_at = 1"))
    r = await client.post("/api/v1/auth/verify-email", json={"token": token})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_token"
    # A resent link works.
    access = (await client.post("/api/v1/auth/login", json={"email": "late@example.com", "password": PASSWORD}))
    r = await client.post("/api/v1/auth/resend-verification", headers=bearer(access.json()["access_token"]))
    assert r.json()["status"] == "sent"
    fresh = token_in(await client.sink.next())
    assert (await client.post("/api/v1/auth/verify-email", json={"token": fresh})).status_code == 200


async def test_password_reset_works_once_and_ends_sessions(mail_client):
    client = mail_client
    tokens = (await client.post("/api/v1/auth/register", json={"email": "f@example.com", "password": PASSWORD})).json()
    await client.sink.next()  # the verification email
    known = await client.post("/api/v1/auth/forgot-password", json={"email": "F@example.com"})
    unknown = await client.post("/api/v1/auth/forgot-password", json={"email": "ghost@example.com"})
    invalid = await client.post("/api/v1/auth/forgot-password", json={"email": "not an email"})
    assert known.status_code == unknown.status_code == invalid.status_code == 202
    assert known.json() == unknown.json() == invalid.json()
    msg = await client.sink.next()
    assert msg["To"] == "f@example.com" and "/reset-password?token=" in msg.get_content()
    assert client.sink.queue.empty()  # nothing was sent for the unknown address
    token = token_in(msg)
    # Someone else asking for another reset does not void the link the owner already has; using
    # one link voids the other.
    await client.post("/api/v1/auth/forgot-password", json={"email": "f@example.com"})
    other_link = token_in(await client.sink.next())
    key = (await client.post("/api/v1/keys", json={"name": "made before"}, headers=bearer(tokens["access_token"])))
    assert (await client.get("/api/v1/auth/me", headers=bearer(key.json()["key"]))).status_code == 200
    new = "brand new passphrase"
    weak = await client.post("/api/v1/auth/reset-password", json={"token": token, "new_password": "x"})
    assert weak.status_code == 400 and weak.json()["error"]["code"] == "weak_password"
    ok = await client.post("/api/v1/auth/reset-password", json={"token": token, "new_password": new})
    assert ok.status_code == 200 and ok.json()["api_keys_revoked"] == 1
    # A reset is an account recovery: keys made by whoever held the account stop working too.
    assert (await client.get("/api/v1/auth/me", headers=bearer(key.json()["key"]))).status_code == 401
    twice = await client.post("/api/v1/auth/reset-password", json={"token": token, "new_password": new + "!"})
    assert twice.status_code == 400 and twice.json()["error"]["code"] == "invalid_token"
    voided = await client.post("/api/v1/auth/reset-password", json={"token": other_link, "new_password": new + "!"})
    assert voided.status_code == 400 and voided.json()["error"]["code"] == "invalid_token"
    assert (await client.get("/api/v1/auth/me", headers=bearer(tokens["access_token"]))).status_code == 401
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 401
    login = await client.post("/api/v1/auth/login", json={"email": "f@example.com", "password": new})
    assert login.status_code == 200


async def test_send_email_without_smtp_logs_and_records(services, caplog):
    caplog.set_level("INFO", logger="smarthub.email")
    outbox_id = await send_email(services, "x@example.com", "Low balance", "You have 1 credit left.")
    assert "Low balance" in caplog.text
    async with services.db.read() as conn:
        row = (await conn.execute(text("SELECT status, recipient FROM email_outbox WHERE id = :i"),
                                  {"i": outbox_id})).one()
    assert (row.status, row.recipient) == ("logged", "x@example.com")


async def test_unreachable_smtp_is_recorded_not_raised(make_config, db):

    services = build_services(make_config(SMARTHUB_SMTP_HOST="127.0.0.1", SMARTHUB_SMTP_PORT=str(free_port())))
    outbox_id = await send_email(services, "x@example.com", "Hi", "body")
    async with services.db.read() as conn:
        row = (await conn.execute(text("SELECT status, attempts FROM email_outbox WHERE id = :i"),
                                  {"i": outbox_id})).one()
    await services.db.close()
    assert (row.status, row.attempts) == ("failed", 1)


async def test_require_paid_access(make_config, db):
    from smarthub_mcp.identity.principals import verify_jwt
    from tests.factories import make_user_with_token

    for required in (False, True):
        services = build_services(make_config(SMARTHUB_AUTH__REQUIRE_VERIFIED_EMAIL=str(required).lower()))
        _, unverified = await make_user_with_token(services, email_verified=False)
        _, verified = await make_user_with_token(services, email_verified=True)
        p_unverified, _ = await verify_jwt(services, unverified)
        p_verified, _ = await verify_jwt(services, verified)
        assert p_unverified.email_verified is False and p_verified.email_verified is True
        require_paid_access(services, p_verified)
        if required:
            with pytest.raises(Forbidden) as info:
                require_paid_access(services, p_unverified)
            assert info.value.code == "email_not_verified" and info.value.status == 403
        else:
            require_paid_access(services, p_unverified)
        await services.db.close()
