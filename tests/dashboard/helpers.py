"""Driving the dashboard's forms over HTTP the way a browser does: read the CSRF token off the
page, post the form, keep the cookies."""

from __future__ import annotations

import re

import httpx

from tests.oauth.helpers import PASSWORD, make_person

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
FORM = {"Content-Type": "application/x-www-form-urlencoded"}

__all__ = ["PASSWORD", "csrf_of", "make_person", "post_form", "sign_in"]


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, html[:2000]
    return found.group(1)


async def post_form(client: httpx.AsyncClient, path: str, fields: dict[str, str], *,
                    page: str | None = None) -> httpx.Response:
    """POST `fields` with the CSRF token of `page` (default: the page at `path`)."""
    shown = await client.get(page or path)
    assert shown.status_code == 200, shown.text[:500]
    return await client.post(path, data={"csrf": csrf_of(shown.text), **fields})


async def sign_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> None:
    r = await post_form(client, "/dashboard/signin", {"email": email, "password": password})
    assert r.status_code == 303 and r.headers["location"] == "/dashboard", r.text[:500]
