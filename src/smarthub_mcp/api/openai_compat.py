"""An OpenAI-compatible API at `/v1`, so OpenAI tools (the SDKs, Cursor, Continue, LangChain) can use SmartHub.

`POST /v1/chat/completions` runs the `chat` tool through `registry.invoke`, the one metering path:
authentication, the `tools:chat` permission, rate limits, the credit hold and the exact charge are
those of MCP and the HTTP tool facade. `POST /v1/images/generations` runs `generate_image` the same way
(openai_images.py). `GET /v1/models` lists the chat models. Errors use OpenAI's
shape (`openai_wire.error_body`) with our status and stable code, never the app's generic handler.

Streaming: the chat tool streams from the provider when given a progress function, which it calls
with each piece of text. The call runs in a task that feeds a queue; the response starts only when
the first piece (or the end) arrives, so an error before any text is an ordinary JSON error with
its status. After that, an error is a last `data: {"error": ...}` event. A client that hangs up
cancels the task: the meter charges the text already produced (nothing if none) and releases the rest.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from smarthub_mcp.api import openai_images
from smarthub_mcp.api import openai_wire as wire
from smarthub_mcp.api.authn import authenticate
from smarthub_mcp.api.body import parse_json, read_body
from smarthub_mcp.dbfaults import outage_of
from smarthub_mcp.errors import InternalError, NotFound, SmartHubError
from smarthub_mcp.logs import request_id_var
from smarthub_mcp.services import Services
from smarthub_mcp.tools.catalog import all_tools
from smarthub_mcp.tools.chat import ChatOutput
from smarthub_mcp.tools.registry import invoke

log = logging.getLogger("smarthub.openai")

Event = tuple[str, Any]
"""What the chat task hands the response: ("delta", text), ("done", ChatOutput) or ("error", exception)."""

STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # no proxy buffering of the stream


def error_response(exc: BaseException) -> JSONResponse:
    if not isinstance(exc, SmartHubError):
        outage = outage_of(exc)
        if outage is None:
            log.error("openai endpoint failed unexpectedly", exc_info=exc)
        exc = outage or InternalError()
    elif exc.status >= 500 and not exc.logged_where_raised:
        log.error("openai endpoint failed: %s", exc.code)
    return JSONResponse(wire.error_body(exc), status_code=wire.error_status(exc), headers=exc.headers or None)


def sse(data: dict[str, Any] | str) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"data: {text}\n\n".encode()


async def chat_completions(request: Request) -> Response | EventStream:
    try:
        return await _chat_completions(request)
    except Exception as exc:  # every failure in OpenAI's error shape, 5xx logged without the body
        return error_response(exc)


async def _chat_completions(request: Request) -> Response | EventStream:
    services = request.app.state.services
    spec = all_tools()["chat"]
    principal = await authenticate(request, metered=True)  # the permission: `invoke` checks it
    body = await read_body(request)
    raw = parse_json(body) if body.strip() else None
    model = raw.get("model") if isinstance(raw, dict) else None
    config = services.settings.models.get(model) if isinstance(model, str) else None
    call = wire.chat_arguments(raw, spec, config.max_output_tokens if config is not None else None)
    completion_id, created = f"chatcmpl-{secrets.token_hex(12)}", int(time.time())
    request_id = request_id_var.get()
    if not call.stream:
        out = await invoke(spec, services, principal, call.arguments, request_id=request_id)
        assert isinstance(out, ChatOutput)
        headers = {"X-SmartHub-Credits-Charged": out.credits_charged}
        if out.balance is not None:
            headers["X-SmartHub-Balance"] = out.balance
        return JSONResponse(wire.completion(completion_id, created, out), headers=headers)

    queue: asyncio.Queue[Event] = asyncio.Queue()

    async def progress(done: float, total: float | None, message: str | None) -> None:
        if message:
            queue.put_nowait(("delta", message))

    async def run() -> None:
        try:
            out = await invoke(spec, services, principal, call.arguments, request_id=request_id, progress=progress)
        except Exception as exc:  # handed to the response, which renders it
            queue.put_nowait(("error", exc))
        else:
            queue.put_nowait(("done", out))

    task = asyncio.create_task(run(), name=f"openai-chat-{request_id}")
    try:
        first = await _first_event(request.receive, queue)
    except BaseException:
        task.cancel()
        raise
    if first is None:  # the client hung up before anything was produced
        await _cancel(task)
        return Response(status_code=499)
    if first[0] == "error":
        await task
        raise first[1]
    model_name = call.arguments["model"]
    events = _events(first, queue, completion_id, created, model_name, call.include_usage)
    return EventStream(events, task)


async def _first_event(receive: Receive, queue: asyncio.Queue[Event]) -> Event | None:
    """The first event, or None when the client disconnects before it arrives."""

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    get = asyncio.ensure_future(queue.get())
    gone = asyncio.ensure_future(disconnected())
    try:
        await asyncio.wait({get, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        get.cancel()  # a no-op when it finished; an untaken event stays in the queue
        gone.cancel()
        await asyncio.gather(get, gone, return_exceptions=True)
    return get.result() if not get.cancelled() else None


async def _events(
    first: Event, queue: asyncio.Queue[Event], completion_id: str, created: int, model: str, include_usage: bool
) -> AsyncIterator[bytes]:
    more = {"usage": None} if include_usage else {}

    def chunk(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        return sse(wire.chunk(completion_id, created, model, choices, **(more | extra)))

    yield chunk(wire.delta({"role": "assistant", "content": ""}))
    kind, value = first
    while kind == "delta":
        yield chunk(wire.delta({"content": value}))
        kind, value = await queue.get()
    if kind == "done":
        out: ChatOutput = value
        if out.finish_reason != "interrupted":
            yield chunk(wire.delta({}, wire.finish_reason(out.finish_reason)), smarthub=wire.extras(out))
        if include_usage:
            yield chunk([], usage=wire.usage(out), smarthub=wire.extras(out))
        if out.finish_reason == "interrupted":
            yield sse(wire.error_body(wire.AnswerInterrupted()) | {"smarthub": wire.extras(out)})
    else:
        if not isinstance(value, SmartHubError):
            outage = outage_of(value)
            if outage is None:
                log.error("openai stream failed unexpectedly", exc_info=value)
            value = outage or InternalError()
        yield sse(wire.error_body(value))
    yield sse("[DONE]")


async def _cancel(task: asyncio.Task[None]) -> None:
    if not task.done():
        task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


class EventStream:
    """`text/event-stream` of `events`; whatever ends it (the end, a hang-up, an error), the chat task
    ends too, so a departed client stops the provider call instead of paying for an unread answer."""

    def __init__(self, events: AsyncIterator[bytes], task: asyncio.Task[None]) -> None:
        self.events = events
        self.task = task

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = StreamingResponse(self.events, media_type="text/event-stream", headers=STREAM_HEADERS)
        try:
            await response(scope, receive, send)
        except (ClientDisconnect, OSError):
            pass
        finally:
            await _cancel(self.task)
            await self.events.aclose()  # type: ignore[attr-defined]


# --- models ------------------------------------------------------------------------------------


def _chat_models(request: Request) -> dict[str, dict[str, Any]]:
    """Chat models that can answer now, as OpenAI model objects by id."""
    router = request.app.state.services.router
    return {
        info.name: {"id": info.name, "object": "model", "created": 0, "owned_by": "smarthub"}
        for info in router.list_models()
        if info.kind == "chat" and info.available
    }


async def list_models(request: Request) -> Response:
    try:
        await authenticate(request)
        return JSONResponse({"object": "list", "data": list(_chat_models(request).values())})
    except Exception as exc:
        return error_response(exc)


async def get_model(request: Request) -> Response:
    try:
        await authenticate(request)
        name = request.path_params["model"]
        found = _chat_models(request).get(name)
        if found is None:
            raise NotFound(f"The model '{name}' does not exist", details={"param": "model"})
        return JSONResponse(found)
    except Exception as exc:
        return error_response(exc)


async def image_generations(request: Request) -> Response:
    try:
        return await openai_images.images_generations(request)
    except Exception as exc:
        return error_response(exc)


routes = [
    Route("/chat/completions", chat_completions, methods=["POST"]),
    Route("/images/generations", image_generations, methods=["POST"]),
    Route("/models", list_models, methods=["GET"]),
    Route("/models/{model:path}", get_model, methods=["GET"]),
]

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 (an endpoint we lack: embeddings, responses...) and 405, in OpenAI's shape."""
    assert isinstance(exc, HTTPException)
    error = {"message": f"{request.method} {request.url.path}: {exc.detail}", "type": "invalid_request_error",
             "param": None, "code": _HTTP_CODES.get(exc.status_code, "invalid_request")}
    return JSONResponse({"error": error}, status_code=exc.status_code, headers=exc.headers)


def app(services: Services) -> Starlette:
    """The `/v1` application. An app of its own (not a bare route list) so that even the router's 404
    and 405 answer in OpenAI's error shape; it shares the services of the main app."""
    application = Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
    application.state.services = services
    return application
