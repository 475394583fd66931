"""Rendering the dashboard: one Jinja2 environment over the package's templates, strict headers.

Templates autoescape everything; values reach them as plain data. Pages load only what this
server serves (`/dashboard/static/...`, media through its signed links): the CSP says so, and
allows no inline script or style at all, so charts are SVG whose colours come from the stylesheet.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from smarthub_mcp.billing.money import credits_for_people, format_credits
from smarthub_mcp.credits import parse_credits
from smarthub_mcp.errors import SmartHubError

log = logging.getLogger("smarthub.api")

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self';"
       " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "X-Robots-Tag": "noindex",
}


def when(ms: int | None) -> str:
    """Epoch milliseconds as a UTC date and time, to the minute."""
    if ms is None:
        return "—"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def credits(micro: int | None) -> str:
    """Micro-credits for people: "12.5 credits"."""
    return credits_for_people(micro or 0)


def decimal_credits(value: str) -> str:
    """A decimal credit string from a report ("12.500000") for people."""
    return credits_for_people(parse_credits(value))


ENV = Environment(
    loader=PackageLoader("smarthub_mcp.api.dashboard", "templates"),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    enable_async=False,
)
ENV.filters.update(when=when, credits=credits, exact=format_credits, dec=decimal_credits)


def origins(urls: list[str | None]) -> str:
    """The origins of `urls` (media links: the storage's host), for the CSP."""
    found = {f"{p.scheme}://{p.netloc}" for p in (urlsplit(u) for u in urls if u) if p.scheme in ("http", "https")}
    return " ".join(sorted(found))


def render(request: Request, template: str, context: dict[str, Any], *, status: int = 200,
           form_targets: str = "", media_from: str = "", headers: dict[str, str] | None = None) -> HTMLResponse:
    """The page `template` with `context`; `form_targets`: origins a form here may lead to after our
    redirect (Stripe Checkout), added to the CSP's form-action; `media_from`: origins of its images
    and videos (the media store's links)."""
    body = ENV.get_template(template).render(path=request.url.path, **context)
    csp = CSP.replace("form-action 'self'", f"form-action 'self' {form_targets}") if form_targets else CSP
    if media_from:
        csp = csp.replace("img-src 'self'", f"img-src 'self' {media_from}").replace(
            "media-src 'self'", f"media-src 'self' {media_from}")
    return HTMLResponse(body, status_code=status,
                        headers={**(headers or {}), **HEADERS, "Content-Security-Policy": csp})


def error_context(exc: SmartHubError) -> dict[str, Any]:
    if exc.status >= 500:
        log.error("dashboard request failed: %s", exc.code)
    return {"error": {"code": exc.code, "message": exc.message}}
