"""`POST /v1/images/generations`: OpenAI's Images API over the `generate_image` tool.

    client = OpenAI(base_url="<server>/v1", api_key="<SmartHub key>")
    client.images.generate(model="demo-image", prompt="a red fox", n=2, size="1024x1024")

Used: `model`, `prompt`, `n`, `size` (WxH; "auto" is the model's default), `response_format`
("url", our signed link, or "b64_json"), `output_format` "png". Ignored: `user`, `quality`, `style`,
`background`, `moderation` (hints that change neither what is charged nor what the answer means).
Anything else is refused, as OpenAI refuses unknown arguments. The call waits up to
`jobs.http_wait_seconds`; images still running then answer 504 `job_still_running` naming the job
(`GET /api/v1/jobs/{id}` has them when done, and they are charged only when delivered).
"""

from __future__ import annotations

import base64
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from smarthub_mcp.api.authn import authenticate
from smarthub_mcp.api.body import parse_json, read_body
from smarthub_mcp.api.openai_wire import UnsupportedParameter, bad
from smarthub_mcp.errors import SmartHubError
from smarthub_mcp.logs import request_id_var
from smarthub_mcp.media import library
from smarthub_mcp.services import Services
from smarthub_mcp.tools.catalog import all_tools
from smarthub_mcp.tools.generation import JobResult
from smarthub_mcp.tools.registry import invoke, validate_arguments

USED = frozenset({"model", "prompt", "n", "size", "response_format", "output_format"})
IGNORED = frozenset({"user", "quality", "style", "background", "moderation"})


class JobStillRunning(SmartHubError):
    code = "job_still_running"
    status = 504


def image_arguments(body: Any) -> tuple[dict[str, Any], str]:
    """The generate_image arguments of a request body, and the response format asked for."""
    if not isinstance(body, dict):
        raise bad("the request body must be a JSON object", None)
    for name in body:
        if name not in USED and name not in IGNORED:
            raise bad(f"Unrecognized request argument supplied: {name}", name, UnsupportedParameter)
    fmt = body.get("response_format") or "url"
    if fmt not in ("url", "b64_json"):
        raise bad("response_format must be 'url' or 'b64_json'", "response_format")
    if body.get("output_format") not in (None, "png"):
        raise bad("output_format must be 'png'", "output_format", UnsupportedParameter)
    arguments: dict[str, Any] = {"prompt": body.get("prompt"), "count": body.get("n", 1)}
    if body.get("model") is not None:
        arguments["model"] = body["model"]
    if body.get("size") not in (None, "auto"):
        arguments["size"] = body["size"]
    return arguments, fmt


async def images_generations(request: Request) -> Response:
    services: Services = request.app.state.services
    spec = all_tools()["generate_image"]
    principal = await authenticate(request, metered=True)
    principal.require(spec.permission)
    body = await read_body(request)
    arguments, fmt = image_arguments(parse_json(body) if body.strip() else None)
    result = await invoke(spec, services, principal, validate_arguments(spec, arguments),
                          request_id=request_id_var.get(), wait_seconds=services.settings.jobs.http_wait_seconds)
    assert isinstance(result, JobResult)
    if result.status != "succeeded":
        raise JobStillRunning(f"the images are not ready yet; GET /api/v1/jobs/{result.job_id} has them when done",
                              details={"job_id": result.job_id, "status": result.status})
    data: list[dict[str, Any]] = []
    for item in result.media:
        if fmt == "url":
            data.append({"url": item.url, "revised_prompt": None})
        else:
            stored = await library.get_for(services.db, principal.user_id, item.media_id)
            encoded = base64.b64encode(await services.storage.get(stored.storage_key)).decode()
            data.append({"b64_json": encoded, "revised_prompt": None})
    return JSONResponse({"created": int(time.time()), "data": data,
                         "usage": {"images": result.delivered, "credits_charged": result.credits_charged}})
