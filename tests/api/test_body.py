"""The one JSON body reader: what it refuses, it refuses the same way on every route (4xx, JSON, a stable
code), before any handler, the database or an error message can trip over it."""

from __future__ import annotations

import json

import pytest

from tests.factories import bearer, make_user_with_token

BIG_INT = "9" * 5000  # past Python's 4300-digit limit for turning text into an int


def raw(value: object) -> bytes:
    """JSON with `\\uXXXX` escapes, so lone surrogates travel as JSON allows (httpx's `json=` cannot send them)."""
    return json.dumps(value).encode()


async def test_an_integer_of_5000_digits_is_invalid_json_everywhere(services, client):
    _, token = await make_user_with_token(services)
    body = b'{"email": "a@example.com", "password": ' + BIG_INT.encode() + b"}"
    for path, headers in (
        ("/api/v1/auth/login", {}),
        ("/api/v1/tools/get_balance", bearer(token)),
        ("/v1/chat/completions", bearer(token)),
    ):
        response = await client.post(path, content=body, headers=headers)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["error"]["code"] == "invalid_json", path


@pytest.mark.parametrize(
    "text",
    ["\ud800", "a\udfffb", "xa\u0000b@example.com"],
    ids=["lone-high-surrogate", "lone-low-surrogate", "nul"],
)
async def test_nul_and_lone_surrogates_are_refused_in_values_and_keys(services, client, text):
    _, token = await make_user_with_token(services, role="admin")
    admin = bearer(token)
    cases = [
        ("POST", "/api/v1/auth/login", {"email": text, "password": "correct horse battery"}, {}),
        ("POST", "/api/v1/keys", {"scopes": [text]}, admin),
        ("PUT", "/api/v1/admin/roles/user", {"permissions": [text]}, admin),
        ("POST", "/api/v1/admin/credits/adjust",
         {"user_id": text, "amount": "1", "reason": "r", "idempotency_key": "k"}, admin),
        ("POST", "/api/v1/admin/credits/adjust",
         {"email": "nobody@example.com", "amount": "1", "reason": text, "idempotency_key": text}, admin),
        ("POST", "/api/v1/templates", {"name": text, "body": f"Hi {text}", "variables": []}, admin),
        ("POST", "/api/v1/promo/codes", {"credits": "1", "description": text}, admin),
        ("POST", "/api/v1/tools/get_template", {"template_id": text}, admin),
        ("POST", "/v1/chat/completions", {text: 1}, admin),
        ("POST", "/v1/chat/completions",
         {"model": "demo-chat", "messages": [{"role": text, "content": "hi"}]}, admin),
        ("POST", "/api/v1/auth/register", {"deep": [[{"deeper": {text: "key"}}]]}, {}),
    ]
    for method, path, body, headers in cases:
        response = await client.request(method, path, content=raw(body), headers=headers)
        assert response.status_code == 400, (method, path, body, response.status_code, response.text)
        assert response.headers["content-type"] == "application/json", (path, response.headers)
        error = response.json()["error"]
        assert error["code"] == "invalid_request", (path, error)
        assert text not in response.text and ("NUL" in error["message"] or "surrogate" in error["message"])


async def test_the_refusal_names_the_field_and_keeps_paired_surrogates(services, client):
    _, token = await make_user_with_token(services)
    refused = await client.post(
        "/api/v1/tools/run_template",
        content=raw({"template_id": "tpl_starter_summarize", "variables": {"text": "a\u0000"}}),
        headers=bearer(token),
    )
    assert refused.status_code == 400 and refused.json()["error"]["details"] == {"field": "variables.text"}
    # An emoji written as a surrogate pair in JSON is one valid character, not a lone surrogate.
    emoji = await client.post(
        "/api/v1/tools/run_template",
        content=raw({"template_id": "tpl_starter_summarize", "variables": {"text": "Say \U0001f600."}}),
        headers=bearer(token),
    )
    assert emoji.status_code == 200, emoji.text


async def test_a_content_length_that_is_no_plain_number_is_not_a_500(client):
    for declared, status in (("\u00b2", 400), ("9" * 5000, 413)):  # "²" passes str.isdigit; int() refuses both
        response = await client.post("/api/v1/auth/login", content=b"{}",
                                     headers={"content-length": declared.encode("latin-1")})
        assert response.status_code == status, (declared[:10], response.text)


@pytest.mark.parametrize("path", ["/api/v1/auth/login", "/api/v1/tools/chat", "/v1/chat/completions"])
async def test_a_client_that_hangs_up_mid_body_is_not_a_server_error(services, live_server, path, caplog):
    """Half a body, then the connection closes: nothing to answer, and nothing logged as an error
    (it was an "unhandled error" with a ClientDisconnect traceback)."""
    import asyncio
    import logging

    _, token = await make_user_with_token(services)
    caplog.set_level(logging.INFO)
    _, writer = await asyncio.open_connection("127.0.0.1", live_server.port)
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"prompt\": \"half".encode()
    )
    await writer.drain()
    await asyncio.sleep(0.2)  # the handler is now waiting for the rest
    writer.close()
    await writer.wait_closed()
    await asyncio.sleep(0.3)  # let the server notice
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
