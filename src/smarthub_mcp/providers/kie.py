"""kie.ai image and video adapter: its unified jobs API (create a task, poll its record), on httpx2.

    POST {base}/api/v1/jobs/createTask   {"model", "input": {"prompt", <aspect>, ...}}
         -> {"code": 200, "msg": "success", "data": {"taskId": "..."}}
    GET  {base}/api/v1/jobs/recordInfo?taskId=...
         -> {"code": 200, "data": {"taskId", "state": waiting|queuing|generating|success|fail,
                                   "resultJson": "{\"resultUrls\": [...]}", "failCode", "failMsg", ...}}

kie answers errors inside a 200: the envelope's `code` (401 key, 402 no credits, 422 invalid,
429, 455 unavailable, 500, 501 generation failed, ...) is read as the status it stands for. The
submit is one POST, sent once; a lost answer is `provider_outcome_unknown` (media_http.py).
`resultJson` is a JSON string. kie has no cancel endpoint for these tasks: `cancel` says False.

Callbacks: with `[jobs] webhooks`, the create carries `callBackUrl` (the engine's per-job HMAC URL)
and kie posts there when the task ends. The post is taken as word that the task moved, nothing
more (`parse_webhook` answers Pending): kie does not sign it, and whether its links are images or
videos is known from the request, so the job is read at once through `recordInfo`, like a poll.

Sizes: kie's image models take an aspect ratio, not pixels. The model's "WxH" size is sent as the
nearest ratio kie knows, in the field the model reads (`image_size` for google/nano-banana and its
edit model, per kie's docs; `aspect_ratio` for the others). `count` above 1 is sent as
`num_images`; a model that makes fewer delivers (and is charged for) what `resultUrls` holds.
Video models on kie's market take `{"prompt", "duration", "aspect_ratio", "image_url"}`; their
`resultUrls` are MP4s, charged for the duration asked (kie reports no length).
A task kie fails for its content policy raises `provider_rejected` (reason `content_policy`):
kie does not flag single images.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from smarthub_mcp.config import ProviderConfig
from smarthub_mcp.errors import ProviderError, ProviderRejected
from smarthub_mcp.providers import failures
from smarthub_mcp.providers.media import Finished, MediaRequest, Outcome, Pending, VideoRequest
from smarthub_mcp.providers.media_http import (
    http_client,
    job_failed,
    json_of,
    outcome_unknown,
    output_from_url,
    retry_later,
    send_poll,
    send_submit,
    video_input,
)

DEFAULT_BASE = "https://api.kie.ai"
CREATE_PATH = "/api/v1/jobs/createTask"
RECORD_PATH = "/api/v1/jobs/recordInfo"
RUNNING = frozenset({"waiting", "queuing", "generating"})
RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
IMAGE_SIZE_FIELD = frozenset({"google/nano-banana", "google/nano-banana-edit"})
"""Models that read the ratio from `image_size`; every other model reads `aspect_ratio`."""


def aspect_ratio(width: int, height: int) -> str:
    """The ratio in RATIOS closest to width:height (compared on a log scale)."""
    target = math.log(width / height)

    def distance(ratio: str) -> float:
        w, _, h = ratio.partition(":")
        return abs(math.log(int(w) / int(h)) - target)

    return min(RATIOS, key=distance)


def task_body(request: MediaRequest) -> dict[str, Any]:
    if isinstance(request, VideoRequest):
        return {"model": request.upstream, "input": video_input(request)}  # Kling, Veo... on kie's market
    try:
        width, height = request.dimensions
        ratio = aspect_ratio(width, height)
    except (ValueError, ZeroDivisionError):
        raise ProviderRejected("This image size is not WIDTHxHEIGHT", details={"size": request.size}) from None
    field = "image_size" if request.upstream in IMAGE_SIZE_FIELD else "aspect_ratio"
    task_input: dict[str, Any] = {"prompt": request.prompt, field: ratio}
    if request.count > 1:
        task_input["num_images"] = request.count
    if request.seed is not None:
        task_input["seed"] = request.seed
    if request.negative_prompt:
        task_input["negative_prompt"] = request.negative_prompt
    return {"model": request.upstream, "input": task_input}


def envelope_error(code: Any, provider: str) -> ProviderError:
    """The error an envelope `code` other than 200 stands for."""
    status = code if isinstance(code, int) and not isinstance(code, bool) else 502
    details = {"provider": provider, "upstream_status": status}
    if status == 402:
        return ProviderError("The AI provider account has no credits left", upstream_status=status,
                             provider=provider, details={**details, "reason": "provider_credits"})
    if status == 455:  # kie: service unavailable (maintenance)
        return ProviderError("The AI provider is temporarily unavailable", upstream_status=status,
                             retryable=True, provider=provider, details=details)
    return failures.from_status(status, provider=provider)


def finished_from_record(record: Mapping[str, Any], *, video: bool = False) -> Finished:
    """The task's `resultUrls`; a video task's outputs are MP4s whatever their links look like."""
    raw = record.get("resultJson")
    result = json.loads(raw) if isinstance(raw, str) else raw
    urls = result.get("resultUrls") if isinstance(result, Mapping) else None
    if not isinstance(urls, list):
        raise TypeError("a kie result has no resultUrls")
    return Finished(outputs=tuple(output_from_url(url, "video/mp4" if video else None) for url in urls))


class KieProvider:
    def __init__(self, name: str, config: ProviderConfig, api_key: str) -> None:
        self.name = name
        self.config = config
        self.base = (config.base_url or DEFAULT_BASE).rstrip("/")
        self.client = http_client(config, {"Authorization": f"Bearer {api_key}"})

    async def submit(self, request: MediaRequest) -> Outcome:
        body = task_body(request)
        if request.webhook_url:
            body["callBackUrl"] = request.webhook_url
        response = await send_submit(self.client, self.name, "POST", self.base + CREATE_PATH, json=body)
        answer = json_of(response)
        if not isinstance(answer, Mapping):
            raise outcome_unknown(self.name, "malformed_answer")
        if answer.get("code") != 200:
            if answer.get("code") == 504:
                raise outcome_unknown(self.name, "gateway_timeout", 504)
            raise envelope_error(answer.get("code"), self.name)
        data = answer.get("data")
        task_id = data.get("taskId") if isinstance(data, Mapping) else None
        if not isinstance(task_id, str) or not task_id:
            raise outcome_unknown(self.name, "malformed_answer")  # "success" without an id
        return Pending(task_id)

    async def poll(self, pending: Pending, request: MediaRequest) -> Outcome:
        response = await send_poll(self.client, self.name, "GET", self.base + RECORD_PATH,
                                   params={"taskId": pending.upstream_id})
        if not response.is_success:
            raise retry_later(self.name, "status", response.status_code)
        answer = json_of(response)
        if not isinstance(answer, Mapping):
            raise retry_later(self.name, "malformed")
        code = answer.get("code")
        if code != 200:
            # 422 and 501 are kie's verdicts on the task; anything else (a key, a 404, a 5xx) is not.
            if code in (422, 501):
                raise job_failed(self.name, status=code, hint=str(answer.get("msg") or ""))
            raise retry_later(self.name, "status", code if isinstance(code, int) else None)
        record = answer.get("data")
        if not isinstance(record, Mapping):
            raise retry_later(self.name, "malformed")
        state = record.get("state")
        if state in RUNNING:
            return Pending(pending.upstream_id, dict(pending.state))
        if state == "fail":
            fail_code = str(record.get("failCode") or "")
            hint = f"{fail_code} {record.get('failMsg') or ''}"
            raise job_failed(self.name, status=int(fail_code) if fail_code.isdigit() else None, hint=hint)
        if state != "success":
            raise retry_later(self.name, "malformed")
        try:
            return finished_from_record(record, video=isinstance(request, VideoRequest))
        except (TypeError, ValueError):
            raise retry_later(self.name, "malformed") from None

    def parse_webhook(self, body: bytes, headers: dict[str, str]) -> tuple[str, Outcome | Exception]:
        """`(task_id, Pending)` from kie's callback: the job is read from recordInfo next."""
        try:
            parsed = json.loads(body)
        except ValueError:
            raise failures.malformed(self.name) from None
        data = parsed.get("data") if isinstance(parsed, Mapping) else None
        task_id = data.get("taskId") if isinstance(data, Mapping) else None
        if not isinstance(task_id, str) or not task_id:
            raise failures.malformed(self.name)
        return task_id, Pending(task_id)

    async def cancel(self, pending: Pending) -> bool:
        return False  # kie's jobs API has no cancel: the task runs on and is charged as delivered

    async def aclose(self) -> None:
        await self.client.aclose()
