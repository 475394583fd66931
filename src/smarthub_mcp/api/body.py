"""JSON request bodies: read with a size limit, parse, validate with a pydantic model.

Malformed JSON answers 400 `invalid_json`; a body that does not fit the model answers 400
`invalid_request` with one entry per problem in `details.fields`; a body over the limit
(`server.max_body_bytes` unless the caller passes a smaller one) answers 413. Every JSON route
reads through `parse_json`, so what it refuses (see `safetext`) no handler has to think about.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.requests import ClientDisconnect, Request

from smarthub_mcp.errors import ClientClosedRequest, InvalidRequest, PayloadTooLarge, validated
from smarthub_mcp.safetext import refuse_flawed

M = TypeVar("M", bound=BaseModel)


class InvalidJson(InvalidRequest):
    code = "invalid_json"


async def read_body(request: Request, max_bytes: int | None = None) -> bytes:
    limit = max_bytes or request.app.state.services.settings.server.max_body_bytes
    declared = request.headers.get("content-length")
    # ASCII digits only ("²" passes isdigit, then int() refuses it), and compared by length before
    # int(), which raises on 4300+ digits; anything else is left to the streaming count below.
    if declared and declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
        raise PayloadTooLarge(f"the request body is larger than {limit} bytes")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"the request body is larger than {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise ClientClosedRequest("the client closed the connection before sending the whole body") from None
    return b"".join(chunks)


def parse_json(raw: bytes) -> Any:
    """`raw` as JSON, with no string (value or key, at any depth) holding a NUL or a lone surrogate.

    `ValueError` covers more than malformed JSON: an integer over Python's 4300-digit limit for
    converting text to int is valid JSON that `json.loads` refuses with a plain ValueError."""
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise InvalidJson("the request body is not valid JSON") from None
    except ValueError:
        raise InvalidJson("the request body holds a number too long to read") from None
    refuse_flawed(value, "the request body")
    return value


async def read_json_value(request: Request, max_bytes: int | None = None) -> Any:
    """The request's body parsed as JSON, read within the size limit (an empty body counts as `{}`)."""
    raw = await read_body(request, max_bytes)
    return parse_json(raw) if raw.strip() else {}


async def read_json(request: Request, model: type[M], *, max_bytes: int | None = None) -> M:
    """The request's JSON body as a validated `model` instance (an empty body counts as `{}`)."""
    return validated(model, await read_json_value(request, max_bytes))
