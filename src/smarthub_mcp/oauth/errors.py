"""Errors of the authorization server that people see on its pages (the token endpoint answers in
OAuth's own JSON shape instead, RFC 6749 §5.2)."""

from __future__ import annotations

from smarthub_mcp.errors import Forbidden, InvalidRequest


class AuthorizationRefused(InvalidRequest):
    """An authorization request that cannot go back to its client: no valid client or redirect URI,
    so it is shown to the person instead of redirected (never an open redirect)."""

    code = "oauth_invalid_request"


class AuthorizationExpired(InvalidRequest):
    code = "oauth_request_expired"

    @classmethod
    def default_message(cls) -> str:
        return "This sign-in request has expired or was already answered. Start again from your app."


class CsrfRefused(Forbidden):
    code = "csrf_failed"

    @classmethod
    def default_message(cls) -> str:
        return "This form has expired. Go back, reload the page and try again."
