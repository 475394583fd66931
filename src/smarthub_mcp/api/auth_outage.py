"""`AuthOutageMiddleware`: on /mcp, a token that could not be checked is a 503, not a 401.

The SDK's bearer-auth middleware knows two outcomes: a token, or none, answered 401 with its
challenge. When the check itself failed (the database out of reach), the token verifiers note the
error in `identity.verifier.auth_outage` as they answer None; this middleware, outside the SDK's,
answers that error (503 with Retry-After, the JSON error shape) in place of the 401, so a client
retries instead of throwing its token away.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smarthub_mcp.api.middleware import send_error
from smarthub_mcp.errors import SmartHubError
from smarthub_mcp.identity.verifier import auth_outage

log = logging.getLogger("smarthub.http")


class AuthOutageMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        outages: list[SmartHubError] = []
        token = auth_outage.set(outages)
        replaced = False

        async def answer(message: Message) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start" and message["status"] == 401 and outages:
                replaced = True
                error = outages[0]
                if not error.logged_where_raised:
                    log.error("request failed: %s", error.code)
                await send_error(send, error)
            elif not replaced:  # else the 401's body, already answered
                await send(message)

        try:
            await self.app(scope, receive, answer)
        finally:
            auth_outage.reset(token)
