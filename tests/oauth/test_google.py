"""Sign in with Google on the OAuth sign-in page, against a loopback fake of Google's OpenID
provider: a new account is made for a verified address, an existing one is linked, and a bad
state, a wrong nonce or an unverified address is refused on a page."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import httpx
import pytest

from tests.fakes.google_oidc import FakeGoogle
from tests.identity.helpers import app_client
from tests.oauth.helpers import REDIRECT, csrf_of, exchange, local, make_person, pkce, query_of, register

_GOOGLE_LINK = re.compile(r'href="(/oauth/google/start\?[^"]+)"')


@pytest.fixture
async def google():
    async with FakeGoogle() as fake:
        yield fake


async def begin(client, client_id: str) -> tuple[str, str, str]:
    """To the sign-in page; follow its Google button to the fake's answer. (consent URL, callback URL, verifier)"""
    verifier, challenge = pkce()
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "state": "st",
              "code_challenge": challenge, "code_challenge_method": "S256"}
    consent = local((await client.get("/authorize?" + urlencode(params))).headers["location"])
    page = await client.get(consent)
    link = _GOOGLE_LINK.search(page.text)
    assert link, page.text
    to_google = await client.get(link.group(1).replace("&amp;", "&"))
    assert to_google.status_code == 303, to_google.text
    async with httpx.AsyncClient() as outside:
        google_answer = await outside.get(to_google.headers["location"])
    assert google_answer.status_code == 302, google_answer.text
    return consent, google_answer.headers["location"], verifier


async def test_google_sign_in_creates_then_finds_the_account(make_config, db, google):
    async with app_client(make_config(**google.env())) as client:
        app = await register(client)
        consent, callback, verifier = await begin(client, app["client_id"])
        back = await client.get(local(callback))
        assert back.status_code == 303 and local(back.headers["location"]) == consent
        shown = await client.get(consent)
        assert "ann@gmail.com" in shown.text and "Allow" in shown.text
        decided = await client.post("/oauth/consent", data={"request": query_of(consent)["request"],
                                                            "csrf": csrf_of(shown.text), "decision": "approve"})
        code = query_of(decided.headers["location"])["code"]
        tokens = await exchange(client, app["client_id"], type("D", (), {"code": code, "verifier": verifier}))
        assert tokens.status_code == 200
        users = await client.services.db.fetch("SELECT id, email_verified FROM users WHERE email = 'ann@gmail.com'")
        assert len(users) == 1 and users[0].email_verified


async def test_google_sign_in_links_an_existing_account_by_verified_email(make_config, db, google):
    async with app_client(make_config(**google.env())) as client:
        user_id, email = await make_person(client.services)
        google.account = {**google.account, "sub": "2000002", "email": email.upper()}
        app = await register(client)
        consent, callback, _ = await begin(client, app["client_id"])
        assert (await client.get(local(callback))).status_code == 303
        assert email in (await client.get(consent)).text
        linked = await client.services.db.fetch_one(
            "SELECT user_id FROM user_identities WHERE provider = 'google' AND subject = '2000002'")
        assert linked.user_id == user_id


@pytest.mark.parametrize("flaw", ["unverified", "nonce", "state", "no-cookie"])
async def test_google_sign_in_refusals_are_pages(make_config, db, google, flaw):
    async with app_client(make_config(**google.env())) as client:
        if flaw == "unverified":
            google.account = {**google.account, "email_verified": False}
        google.wrong_nonce = flaw == "nonce"
        app = await register(client)
        _, callback, _ = await begin(client, app["client_id"])
        if flaw == "state":
            callback = callback.replace("state=", "state=x")
        if flaw == "no-cookie":
            client.cookies.delete("smarthub_google", path="/oauth/google")
        answer = await client.get(local(callback))
        assert answer.status_code == 400 and "google_sign_in_failed" in answer.text, answer.text
        assert "smarthub_session" not in answer.headers.get("set-cookie", "")


async def test_without_google_settings_the_button_is_absent(client, services):
    app = await register(client)
    _, challenge = pkce()
    answer = await client.get("/authorize?" + urlencode({"response_type": "code", "client_id": app["client_id"],
                                                         "redirect_uri": REDIRECT, "code_challenge": challenge}))
    page = await client.get(local(answer.headers["location"]))
    assert "Sign in with Google" not in page.text and 'name="password"' in page.text
    assert (await client.get("/oauth/google/start?request=x")).status_code == 400
