"""The pages the emailed links open (identity/pages.py), followed the way a browser would: the link
from a real SMTP sink, the page's form, its POST. On both databases."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import text

from tests.factories import bearer

PASSWORD = "correct horse battery"
NEW_PASSWORD = "brand new passphrase"
FORM = {"content-type": "application/x-www-form-urlencoded"}


def link_in(msg) -> str:
    """The path and query of the emailed link, which must point at the configured public URL."""
    return re.search(r"https://hub\.example\.com(/\S+)", msg.get_content()).group(1)


def form_of(page: str) -> tuple[str, dict[str, str]]:
    """The action and hidden fields of the page's one form, unescaped as a browser reads them."""
    action = re.search(r'<form method="post" action="([^"]*)">', page).group(1)
    hidden = re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', page)
    return html.unescape(action), {html.unescape(k): html.unescape(v) for k, v in hidden}


def assert_page(response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-security-policy"].startswith("default-src 'none';")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    if code is not None:
        assert f"<code>{code}</code>" in response.text


def passwords(new: str, confirm: str | None = None) -> dict[str, str]:
    return {"new_password": new, "confirm_password": new if confirm is None else confirm}


async def registered(client, email: str) -> dict:
    r = await client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert r.status_code == 201
    return r.json()


async def is_verified(client, access_token: str) -> bool:
    return (await client.get("/api/v1/auth/me", headers=bearer(access_token))).json()["email_verified"]


async def test_a_link_page_shows_a_form_with_the_token_escaped(client):
    token = '"><script>alert(1)</script>'
    r = await client.get("/verify-email", params={"token": token})
    assert_page(r, 200)
    assert "<script>" not in r.text and "&lt;script&gt;" in r.text
    assert form_of(r.text) == ("verify-email", {"token": token})


async def test_a_reset_link_that_is_not_live_says_so_before_a_password_is_typed(client):
    """Opening a reset link reads whether its token is live (a read: the link is not spent); an
    unknown one is the error page without the form, and echoes nothing."""
    r = await client.get("/reset-password", params={"token": '"><script>alert(1)</script>'})
    assert_page(r, 400, "invalid_token")
    assert "<form" not in r.text and "script" not in r.text


@pytest.mark.parametrize("path", ["/verify-email", "/reset-password"])
@pytest.mark.parametrize("query", ["", "?token=", "?token=" + "x" * 201])
async def test_a_link_without_a_usable_token_is_a_400_page(client, path, query):
    r = await client.get(path + query)
    assert_page(r, 400, "invalid_token")
    assert "<form" not in r.text


async def test_verification_through_the_page_works_once_and_opening_the_link_does_not_verify(mail_client):
    client = mail_client
    tokens = await registered(client, "page@example.com")
    link = link_in(await client.sink.next())
    assert link.startswith("/verify-email?token=")
    for _ in range(3):  # a mail scanner fetching the link, then the user opening it
        page = await client.get(link)
        assert_page(page, 200)
    assert (await client.head(link)).status_code == 200
    assert await is_verified(client, tokens["access_token"]) is False

    action, fields = form_of(page.text)
    done = await client.post("/" + action, data=fields)
    assert_page(done, 200)
    assert "page@example.com is confirmed" in done.text
    assert await is_verified(client, tokens["access_token"]) is True

    again = await client.post("/" + action, data=fields)
    assert_page(again, 400, "invalid_token")


async def test_an_expired_or_unknown_verification_token_is_a_400_page(mail_client):
    client = mail_client
    await registered(client, "late@example.com")
    page = await client.get(link_in(await client.sink.next()))
    _, fields = form_of(page.text)
    async with client.services.db.write() as conn:
        await conn.execute(text("UPDATE email_tokens SET expires_at = 1"))
    for token in (fields["token"], "not-a-token"):
        r = await client.post("/verify-email", data={"token": token})
        assert_page(r, 400, "invalid_token")


async def test_reset_through_the_page_sets_the_password_once(mail_client):
    client = mail_client
    tokens = await registered(client, "reset@example.com")
    await client.sink.next()  # the verification email
    await client.post("/api/v1/auth/forgot-password", json={"email": "reset@example.com"})
    link = link_in(await client.sink.next())
    assert link.startswith("/reset-password?token=")
    key = await client.post("/api/v1/keys", json={"name": "laptop"}, headers=bearer(tokens["access_token"]))
    assert key.status_code == 201
    page = await client.get(link)
    again = await client.get(link)  # opening it twice spends nothing
    assert_page(page, 200)
    assert_page(again, 200)
    assert 'name="new_password"' in page.text and 'name="confirm_password"' in page.text
    assert "revokes every API key" in page.text
    action, fields = form_of(page.text)

    # Refusals that leave the link usable show the form again, token included.
    for typed, code in [(passwords(NEW_PASSWORD, NEW_PASSWORD + "!"), "password_mismatch"),
                        (passwords("short"), "weak_password")]:
        r = await client.post("/" + action, data={**fields, **typed})
        assert_page(r, 400, code)
        assert form_of(r.text) == (action, fields)

    done = await client.post("/" + action, data={**fields, **passwords(NEW_PASSWORD)})
    assert_page(done, 200)
    assert "Its 1 API key was revoked" in done.text
    assert (await client.get("/api/v1/auth/me", headers=bearer(key.json()["key"]))).status_code == 401
    assert_page(await client.get(link), 400, "invalid_token")  # a spent link says so on opening
    old = await client.post("/api/v1/auth/login", json={"email": "reset@example.com", "password": PASSWORD})
    assert old.status_code == 401
    new = await client.post("/api/v1/auth/login", json={"email": "reset@example.com", "password": NEW_PASSWORD})
    assert new.status_code == 200
    assert (await client.get("/api/v1/auth/me", headers=bearer(tokens["access_token"]))).status_code == 401

    twice = await client.post("/" + action, data={**fields, **passwords(NEW_PASSWORD)})
    assert_page(twice, 400, "invalid_token")
    assert "<form" not in twice.text


@pytest.mark.parametrize("path", ["/verify-email", "/reset-password"])
@pytest.mark.parametrize(
    ("content", "headers", "status", "code"),
    [
        (b"", FORM, 400, "invalid_token"),
        (b"token=%ff", FORM, 400, "invalid_request"),
        (b"token=\xff\xfe", FORM, 400, "invalid_request"),
        (b"token=x&" * 30, FORM, 400, "invalid_request"),
        (b'{"token": "x"}', {"content-type": "application/json"}, 415, "unsupported_media_type"),
        (b"token=" + b"x" * 20_000, FORM, 413, "payload_too_large"),
    ],
)
async def test_a_bad_form_is_an_error_page_not_a_500(client, path, content, headers, status, code):
    r = await client.post(path, content=content, headers=headers)
    assert_page(r, status, code)


@pytest.mark.parametrize("path", ["/verify-email", "/reset-password"])
async def test_a_form_post_stops_reading_at_the_limit(client, path):
    """Chunked, without a Content-Length: the reader stops at the auth routes' 16 KiB limit."""
    chunk, sent = b"x" * 4096, 0

    async def huge():
        nonlocal sent
        while sent < 100 * len(chunk):
            sent += len(chunk)
            yield chunk

    r = await client.post(path, content=huge(), headers=FORM)
    assert_page(r, 413, "payload_too_large")
    assert sent <= 16_384 + 2 * len(chunk)
