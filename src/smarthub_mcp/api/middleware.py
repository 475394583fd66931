"""Plain ASGI middleware: request ids, and a last line of defence against stray exceptions."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smarthub_mcp.dbfaults import outage_of
from smarthub_mcp.errors import InternalError, ShuttingDown, SmartHubError
from smarthub_mcp.identity.verifier import auth_outage
from smarthub_mcp.logs import request_id_var

log = logging.getLogger("smarthub.http")
_VALID_INCOMING = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    """Take a sane incoming `X-Request-ID` or make one; echo it; expose it to logs.

    It also turns an exception that escaped everything else into a JSON 500 with no traceback
    (Starlette's ServerErrorMiddleware would answer in plain text), if headers were not sent yet;
    and a request cancelled under it (uvicorn cancels what still runs when the shutdown grace
    period ends; the meter has released the call's hold by then) into 503 `shutting_down`, where
    uvicorn would answer a bare 500 and log a traceback.

    And on /mcp, where the SDK's bearer middleware knows only "a token" or "none" (401), a token
    that could not be checked because the store was out of reach (the verifiers note it in
    `identity.verifier.auth_outage`) is answered as that error (503, Retry-After) in place of the
    401, which would tell the client to throw its token away.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _VALID_INCOMING.match(incoming) else secrets.token_hex(8)
        token = request_id_var.set(request_id)
        outages: list[SmartHubError] = []
        outage_token = auth_outage.set(outages)
        scope.setdefault("state", {})["request_id"] = request_id
        started = replaced = False

        async def send_with_id(message: Message) -> None:
            nonlocal started, replaced
            if message["type"] == "http.response.start":
                started = True
                if message["status"] == 401 and outages and not replaced:
                    if not outages[0].logged_where_raised:
                        log.error("request failed: %s", outages[0].code)
                    await send_error(send_with_id, outages[0])  # through here: it gets its request id
                    replaced = True  # the 401's body, still to come, is dropped
                    return
                headers = list(message.get("headers") or [])
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            elif replaced:  # the 401's body: already answered
                return
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except asyncio.CancelledError:
            log.warning("%s %s cut off by the shutdown", scope.get("method"), scope.get("path"))
            if not started:  # else the stream just ends; the client sees it cut short
                await send_error(send_with_id, ShuttingDown())
        except Exception as exc:
            outage = outage_of(exc)
            if outage is None:
                log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            await send_error(send_with_id, outage or InternalError())
        finally:
            auth_outage.reset(outage_token)
            request_id_var.reset(token)


async def send_error(send: Send, error: SmartHubError) -> None:
    """Answer `error` in the one JSON shape, from plain ASGI (where no renderer runs)."""
    body = json.dumps(error.to_dict()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(name.lower().encode(), value.encode()) for name, value in (error.headers or {}).items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
