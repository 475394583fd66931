"""The page shell and the form reader of api/html.py, on a bare Starlette app (no database)."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from smarthub_mcp.api.html import STYLE, error_page, page, read_form
from smarthub_mcp.errors import SmartHubError

FORM = {"content-type": "application/x-www-form-urlencoded"}


async def echo(request: Request) -> HTMLResponse | JSONResponse:
    try:
        form = await read_form(request, ("token", "word"), max_bytes=1024)
    except SmartHubError as exc:
        return error_page("Refused", exc)
    return JSONResponse(form)


@pytest.fixture
async def client():
    app = Starlette(routes=[Route("/form", echo, methods=["POST"])])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as c:
        yield c


def test_the_page_escapes_its_title_and_allows_only_its_own_stylesheet():
    response = page("<b>&", "<p>body</p>")
    text = response.body.decode()
    assert "<b>&" not in text and "&lt;b&gt;&amp;" in text
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "form-action 'self'" in csp and "frame-ancestors 'none'" in csp
    digest = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in csp
    assert re.search(r"<style>(.*?)</style>", text).group(1) == STYLE  # the hash is of what is served
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.media_type == "text/html"


async def test_a_form_gives_the_named_fields_first_value_and_ignores_the_rest(client):
    r = await client.post("/form", content=b"token=a%20b&other=1&token=second&word=%C3%A9t%C3%A9", headers=FORM)
    assert r.status_code == 200 and r.json() == {"token": "a b", "word": "été"}
    with_charset = {"content-type": "application/x-www-form-urlencoded; charset=utf-8"}
    r = await client.post("/form", content=b"", headers=with_charset)
    assert r.json() == {"token": "", "word": ""}


@pytest.mark.parametrize(
    ("content", "headers", "status", "code"),
    [
        (b"token=%ff%fe", FORM, 400, "invalid_request"),  # percent-encoded bytes that are not UTF-8
        (b"token=\xff", FORM, 400, "invalid_request"),
        (b"&".join(b"f%d=1" % i for i in range(50)), FORM, 400, "invalid_request"),
        (b'{"token": "x"}', {"content-type": "application/json"}, 415, "unsupported_media_type"),
        (b"token=x", {}, 415, "unsupported_media_type"),
        (b"token=" + b"x" * 2000, FORM, 413, "payload_too_large"),
    ],
)
async def test_a_bad_form_is_refused_with_its_code(client, content, headers, status, code):
    r = await client.post("/form", content=content, headers=headers)
    assert r.status_code == status
    assert f"<code>{code}</code>" in r.text
    assert r.headers["content-security-policy"].startswith("default-src 'none'")
