"""Server-rendered pages: one document shell, one set of strict headers, a size-limited form reader.

The pages are where the server's own links land (the emailed verification and reset links,
Stripe's return URLs), so a user who clicks one sees a page instead of a 404. They are plain
strings, with every value that is not a literal of the source passed through `esc`. They load
nothing from elsewhere and run no script; the CSP says so, allowing only the one inline
stylesheet, by its hash.

Errors on a page keep the project's rules: the status is the error's, and the page shows its
stable `code` beside the message.
"""

from __future__ import annotations

import base64
import hashlib
import html
import logging
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import HTMLResponse

from smarthub_mcp.api.body import read_body
from smarthub_mcp.errors import InvalidRequest, SmartHubError, UnsupportedMediaType
from smarthub_mcp.safetext import refuse_flawed

log = logging.getLogger("smarthub.api")

FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_FIELDS = 20

STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#222}"
    "h1{font-size:1.4rem}label{display:block;margin:.8rem 0}input{display:block;width:100%;"
    "padding:.4rem;font:inherit;box-sizing:border-box}button{padding:.5rem 1rem;font:inherit}"
    ".error{color:#a00}code{background:#f3f3f3;padding:0 .2rem}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()

HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    # The pages carry single-use secrets in their URL and forms: no cache keeps them, no Referer
    # header sends them on.
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "X-Robots-Tag": "noindex",
}


def esc(value: object) -> str:
    """`value` as text safe inside an element or a double-quoted attribute."""
    return html.escape(str(value), quote=True)


def document(title: str, body: str) -> str:
    """A whole page; `title` is escaped here, `body` must be markup built with `esc`."""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · SmartHub</title><style>{STYLE}</style></head>"
        f"<body><main><h1>{esc(title)}</h1>\n{body}\n</main></body></html>\n"
    )


def page(title: str, body: str, *, status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    return HTMLResponse(document(title, body), status_code=status, headers={**(headers or {}), **HEADERS})


def paragraph(text: str) -> str:
    return f"<p>{esc(text)}</p>"


def error_block(exc: SmartHubError) -> str:
    return f'<p class="error" role="alert">{esc(exc.message)}</p><p>Error code: <code>{esc(exc.code)}</code></p>'


def error_page(title: str, exc: SmartHubError, *, more: str = "") -> HTMLResponse:
    """The page for a refused request: the error's status, message and code, then `more` (markup)."""
    if exc.status >= 500 and not exc.logged_where_raised:
        log.error("page request failed: %s", exc.code)
    return page(title, error_block(exc) + more, status=exc.status, headers=exc.headers)


def hidden(name: str, value: str) -> str:
    return f'<input type="hidden" name="{esc(name)}" value="{esc(value)}">'


async def read_form(request: Request, fields: tuple[str, ...] | None, *, max_bytes: int,
                    max_fields: int = MAX_FORM_FIELDS) -> dict[str, str]:
    """The named fields of a urlencoded form body (first value of each; "" when absent), read
    within `max_bytes`. Other fields are ignored (`fields` None: every field is kept); a body that
    is not a urlencoded form is refused."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != FORM_TYPE:
        raise UnsupportedMediaType(f"send the form as {FORM_TYPE}")
    raw = await read_body(request, max_bytes)
    try:
        pairs = parse_qsl(
            raw.decode("utf-8"), keep_blank_values=True, max_num_fields=max_fields, errors="strict"
        )
    except ValueError:  # not UTF-8 (raw or percent-encoded), or too many fields
        raise InvalidRequest("the form could not be read") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if fields is None or name in fields:
            form.setdefault(name, value)
    chosen = form if fields is None else {name: form.get(name, "") for name in fields}
    refuse_flawed(chosen, "the form")  # a NUL would reach PostgreSQL as a 500
    return chosen
