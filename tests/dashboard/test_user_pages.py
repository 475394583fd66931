"""The user's pages over HTTP on both databases: the guard, sign-in, the dashboard's figures, keys,
promo codes; one user never sees or touches another's."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
from sqlalchemy import text

from smarthub_mcp.billing import promo_admin
from smarthub_mcp.credits import MICRO
from smarthub_mcp.services import Services
from tests.dashboard.helpers import csrf_of, make_person, post_form, sign_in
from tests.factories import bearer


async def test_pages_need_a_session_and_sign_in_leads_back(client: httpx.AsyncClient, services: Services):
    for path in ("/dashboard", "/dashboard/keys", "/dashboard/credits"):
        r = await client.get(path)
        assert r.status_code == 303
        assert r.headers["location"] == "/dashboard/signin?" + urlencode({"next": path})
    r = await client.post("/dashboard/keys", data={"name": "x"})
    assert r.status_code == 303 and r.headers["location"] == "/dashboard/signin"
    _, email = await make_person(services)
    shown = await client.get("/dashboard/signin?next=/dashboard/keys")
    r = await client.post("/dashboard/signin", data={"csrf": csrf_of(shown.text), "email": email,
                                                     "password": "correct horse battery staple",
                                                     "next": "/dashboard/keys"})
    assert r.status_code == 303 and r.headers["location"] == "/dashboard/keys"
    assert (await client.get("/dashboard/keys")).status_code == 200


async def test_sign_in_refuses_a_forged_form_and_a_wrong_password(client: httpx.AsyncClient, services: Services):
    _, email = await make_person(services)
    await client.get("/dashboard/signin")  # the CSRF cookie
    forged = await client.post("/dashboard/signin", data={"csrf": "x" * 64, "email": email,
                                                          "password": "correct horse battery staple"})
    assert forged.status_code == 403 and "csrf_failed" in forged.text
    wrong = await post_form(client, "/dashboard/signin", {"email": email, "password": "wrong password here"})
    assert wrong.status_code == 401 and "invalid_credentials" in wrong.text
    assert "smarthub_session" not in client.cookies
    assert (await client.get("/dashboard")).status_code == 303


async def test_sign_up_signs_in_and_the_dashboard_shows_the_sign_up_credits(client: httpx.AsyncClient,
                                                                             services: Services):
    r = await post_form(client, "/dashboard/signup", {"email": "new@example.com",
                                                      "password": "a long enough password"})
    assert r.status_code == 303 and r.headers["location"] == "/dashboard?welcome=1"
    home = await client.get("/dashboard?welcome=1")
    assert home.status_code == 200
    assert 'id="balance">1 credits<' in home.text
    assert "<svg" in home.text and home.text.count('class="bar"') == 30
    assert home.headers["content-security-policy"].startswith("default-src 'none'")
    async with services.db.read() as conn:
        sent = (await conn.execute(text("SELECT COUNT(*) FROM email_outbox WHERE recipient = 'new@example.com'")))
        assert sent.scalar() == 1  # the verification email


async def test_a_forged_post_is_refused_and_changes_nothing(client: httpx.AsyncClient, services: Services):
    user_id, email = await make_person(services)
    await sign_in(client, email)
    r = await client.post("/dashboard/keys", data={"csrf": "forged", "name": "evil"})
    assert r.status_code == 403 and "csrf_failed" in r.text
    async with services.db.read() as conn:
        n = (await conn.execute(text("SELECT COUNT(*) FROM api_keys WHERE user_id = :u"), {"u": user_id})).scalar()
    assert n == 0


async def test_a_key_is_shown_once_with_client_configs_works_and_can_be_revoked(client: httpx.AsyncClient,
                                                                                 services: Services):
    _, email = await make_person(services)
    await sign_in(client, email)
    r = await post_form(client, "/dashboard/keys", {"name": "laptop"})
    assert r.status_code == 200
    key = r.text.split('<pre id="new-key">')[1].split("</pre>")[0]
    assert key.startswith("shk_")
    for client_name in ("Claude Desktop", "Claude Code", "Cursor", "VS Code", "Custom GPT"):
        assert client_name in r.text
    assert r.text.count(key) >= 5  # the key itself, and in each client's configuration
    assert (await client.get("/api/v1/credits/balance", headers=bearer(key))).status_code == 200
    listed = await client.get("/dashboard/keys")
    assert key not in listed.text and key[:12] in listed.text
    key_id = listed.text.split('action="/dashboard/keys/')[1].split("/revoke")[0]
    r = await post_form(client, f"/dashboard/keys/{key_id}/revoke", {}, page="/dashboard/keys")
    assert r.status_code == 200 and "revoked" in r.text
    assert (await client.get("/api/v1/credits/balance", headers=bearer(key))).status_code == 401


async def test_one_user_cannot_revoke_another_users_key(app, services: Services):
    owner, _ = await make_person(services)
    _, other_email = await make_person(services)
    from tests.factories import make_api_key

    key = await make_api_key(services, owner)
    async with services.db.read() as conn:
        key_id = (await conn.execute(text("SELECT id FROM api_keys WHERE user_id = :u"), {"u": owner})).scalar()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as other:
        await sign_in(other, other_email)
        r = await post_form(other, f"/dashboard/keys/{key_id}/revoke", {}, page="/dashboard/keys")
        assert r.status_code == 404 and "not_found" in r.text
        page = await other.get("/dashboard/keys")
        assert key[:12] not in page.text
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as c:
        assert (await c.get("/api/v1/credits/balance", headers=bearer(key))).status_code == 200


async def test_a_promo_code_is_redeemed_once(client: httpx.AsyncClient, services: Services):
    user_id, email = await make_person(services)
    await promo_admin.create_code(services, promo_admin.PromoCreate(code="WELCOME5", credits=5),
                                  actor_id=None)
    await sign_in(client, email)
    before = (await services.ledger.balance(user_id)).balance
    r = await post_form(client, "/dashboard/credits/redeem", {"code": "WELCOME5"}, page="/dashboard/credits")
    assert r.status_code == 200 and "Code WELCOME5 redeemed" in r.text
    assert (await services.ledger.balance(user_id)).balance == before + 5 * MICRO
    again = await post_form(client, "/dashboard/credits/redeem", {"code": "WELCOME5"}, page="/dashboard/credits")
    assert again.status_code == 409 and "promo_already_redeemed" in again.text
    assert (await services.ledger.balance(user_id)).balance == before + 5 * MICRO


async def test_static_files_are_served_from_the_package(client: httpx.AsyncClient):
    css = await client.get("/dashboard/static/app.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "prefers-color-scheme:dark" in css.text
    again = await client.get("/dashboard/static/app.css", headers={"If-None-Match": css.headers["etag"]})
    assert again.status_code == 304
    assert (await client.get("/dashboard/static/nope.js")).status_code == 404


async def test_an_unconfirmed_user_asks_for_a_new_link(client: httpx.AsyncClient, services: Services):
    r = await post_form(client, "/dashboard/signup", {"email": "late@example.com",
                                                      "password": "a long enough password"})
    assert r.status_code == 303
    home = await client.get("/dashboard")
    assert "Send a new link" in home.text
    again = await post_form(client, "/dashboard/resend-verification", {}, page="/dashboard")
    assert again.status_code == 200 and "A new confirmation email is on its way." in again.text
    async with services.db.read() as conn:
        sent = await conn.execute(text("SELECT COUNT(*) FROM email_outbox WHERE recipient = 'late@example.com'"))
        assert sent.scalar() == 2


async def test_changing_the_password_keeps_this_browser_and_ends_the_others(app, client: httpx.AsyncClient,
                                                                            services: Services):
    _, email = await make_person(services)
    await sign_in(client, email)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as other:
        await sign_in(other, email)
        wrong = await post_form(client, "/dashboard/account/password", {
            "current_password": "not it at all", "new_password": "a brand new password",
            "confirm_password": "a brand new password"}, page="/dashboard/account")
        assert wrong.status_code == 400 and "<code>wrong_password</code>" in wrong.text
        r = await post_form(client, "/dashboard/account/password", {
            "current_password": "correct horse battery staple", "new_password": "a brand new password",
            "confirm_password": "a brand new password"}, page="/dashboard/account")
        assert r.status_code == 200 and "Password changed." in r.text
        assert (await client.get("/dashboard")).status_code == 200  # this browser: a fresh session
        assert (await other.get("/dashboard")).status_code == 303  # the other one: signed out
    await client.post("/dashboard/signout", data={"csrf": csrf_of((await client.get("/dashboard")).text)})
    await sign_in(client, email, "a brand new password")
