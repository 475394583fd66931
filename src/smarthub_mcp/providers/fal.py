"""fal.ai image and video adapter, on fal's queue HTTP API directly (httpx2), not `fal-client`.

    POST {base}/{app_id}              {"prompt", "image_size": {width, height}, "num_images", ...}
         -> {"request_id", "status_url", "response_url", "cancel_url", "queue_position"}
    GET  {status_url}?logs=0          -> {"status": "IN_QUEUE" | "IN_PROGRESS" | "COMPLETED", ...}
    GET  {response_url}               -> {"images": [{url, width, height, content_type}], "has_nsfw_concepts": [...]}
    PUT  {cancel_url}                 -> 202 {"status": "CANCELLATION_REQUESTED"} | 400 {"status": "ALREADY_COMPLETED"}

Why not the SDK: `fal_client` retries a submit up to 10 times on a read timeout or a transport
error, and a timeout after fal accepted the job is a second billed job. Here the submit is one
POST, sent once (media_http.py); a lost answer is `provider_outcome_unknown`.

`base_url` defaults to `https://queue.fal.run`. The submit answers with absolute URLs for the
follow-up calls; they are kept in `Pending.state` (with the request id as `upstream_id`), so any
replica can poll or cancel after a restart. They are followed only when they point at the same
host as `base_url` (else rebuilt as `{base}/{owner}/{app}/requests/{id}`): our key is never sent
to a host the operator did not configure.

Outputs: fal's safety checker marks images in `has_nsfw_concepts`; those are counted as `flagged`
and returned in `held` (stored for an admin's review, not charged unless approved). FLUX models
take no `negative_prompt`, so it is sent only to other models; `image_size` is sent as
`{width, height}` from the model's "WxH" size.

Video (Kling, Pika and the other video models fal hosts): the same queue; the input is
`{"prompt", "duration": "5", "aspect_ratio", "negative_prompt", "image_url"}` (a start image makes it
image-to-video: route such a model to the endpoint's image-to-video path), and the result is
`{"video": {"url", "content_type", "file_size"}}`. fal does not report a length: the job is charged
for the duration it asked for, which is what these models make.

Webhooks: a request with `webhook_url` (the engine's per-job HMAC URL) asks fal to POST the result
there (`?fal_webhook=`); `parse_webhook` reads that body (`WebhookParser` in media.py). fal's own
signature (`X-Fal-Webhook-Signature`, ED25519 against fal's JWKS) is not checked here: the secret
per-job URL is what vouches for the sender.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from smarthub_mcp.config import ProviderConfig
from smarthub_mcp.errors import ProviderError, ProviderRejected
from smarthub_mcp.providers import failures
from smarthub_mcp.providers.media import (
    Finished,
    MediaOutput,
    MediaRequest,
    Outcome,
    Pending,
    VideoRequest,
)
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

DEFAULT_BASE = "https://queue.fal.run"
RUNNING = frozenset({"IN_QUEUE", "IN_PROGRESS"})
NOT_A_VERDICT = frozenset({401, 403, 404, 408, 409, 425, 429})
"""Result-fetch statuses about our access, not about the job: poll again later."""


def arguments(request: MediaRequest) -> dict[str, Any]:
    """fal's input for a text-to-image model (or a video model)."""
    if isinstance(request, VideoRequest):
        return video_input(request)
    try:
        width, height = request.dimensions
    except ValueError:
        raise ProviderRejected("This image size is not WIDTHxHEIGHT", details={"size": request.size}) from None
    body: dict[str, Any] = {
        "prompt": request.prompt,
        "image_size": {"width": width, "height": height},
        "num_images": request.count,
        "enable_safety_checker": True,
    }
    if request.seed is not None:
        body["seed"] = request.seed
    if request.negative_prompt and "flux" not in request.upstream.lower():
        body["negative_prompt"] = request.negative_prompt
    return body


def finished_from_result(result: Any) -> Finished:
    """A fal result: images (those the safety checker marked are held for review), or a video."""
    if isinstance(result, Mapping) and isinstance(result.get("video"), Mapping):
        video = result["video"]
        return Finished(outputs=(output_from_url(video.get("url"), video.get("content_type") or "video/mp4",
                                                 None, None),))
    if not isinstance(result, Mapping) or not isinstance(result.get("images"), list):
        raise TypeError("a fal result has no images list")
    marks = result.get("has_nsfw_concepts")
    marks = marks if isinstance(marks, list) else []
    outputs: list[MediaOutput] = []
    held: list[MediaOutput] = []
    for index, image in enumerate(result["images"]):
        if not isinstance(image, Mapping):
            raise TypeError("a fal image is not an object")
        output = output_from_url(image.get("url"), image.get("content_type"), image.get("width"), image.get("height"))
        if index < len(marks) and marks[index] is True:
            held.append(replace(output, flag="nsfw"))
        else:
            outputs.append(output)
    return Finished(outputs=tuple(outputs), flagged=len(held), held=tuple(held))


def outcome_from_webhook(body: Any, provider: str = "fal") -> tuple[str, Outcome]:
    """`(request_id, outcome)` from a fal webhook body `{request_id, status: OK|ERROR, payload,
    error, payload_error}`. A body whose payload fal could not include answers `Pending`: poll."""
    if not isinstance(body, Mapping) or not isinstance(body.get("request_id"), str) or not body["request_id"]:
        raise failures.malformed(provider)
    request_id: str = body["request_id"]
    if body.get("status") == "ERROR":
        payload = body.get("payload")
        hint = f"{body.get('error') or ''} {payload if isinstance(payload, Mapping) else ''}"
        raise job_failed(provider, hint=hint)
    if body.get("status") != "OK":
        raise failures.malformed(provider)
    if body.get("payload") is None:
        return request_id, Pending(request_id)
    try:
        return request_id, finished_from_result(body["payload"])
    except TypeError:
        raise failures.malformed(provider) from None


class FalProvider:
    def __init__(self, name: str, config: ProviderConfig, api_key: str) -> None:
        self.name = name
        self.config = config
        self.base = (config.base_url or DEFAULT_BASE).rstrip("/")
        self.client = http_client(config, {"Authorization": f"Key {api_key}"})

    def _ours(self, url: Any) -> bool:
        if not isinstance(url, str):
            return False
        mine, theirs = urlsplit(self.base), urlsplit(url)
        return (theirs.scheme, theirs.netloc) == (mine.scheme, mine.netloc)

    def _urls(self, upstream: str, request_id: str, given: Mapping[str, Any]) -> dict[str, str]:
        # fal's own follow-up URLs drop the endpoint's sub-path: fal-ai/flux/dev -> fal-ai/flux.
        root = f"{self.base}/{'/'.join(upstream.split('/')[:2])}/requests/{request_id}"
        built = {"response_url": root, "status_url": f"{root}/status", "cancel_url": f"{root}/cancel"}
        return {key: given[key] if self._ours(given.get(key)) else url for key, url in built.items()}

    async def submit(self, request: MediaRequest) -> Outcome:
        body = arguments(request)
        params = {"fal_webhook": request.webhook_url} if request.webhook_url else None
        response = await send_submit(self.client, self.name, "POST", f"{self.base}/{request.upstream}",
                                     json=body, params=params)
        answer = json_of(response)
        request_id = answer.get("request_id") if isinstance(answer, Mapping) else None
        if not isinstance(request_id, str) or not request_id:
            raise outcome_unknown(self.name, "malformed_answer")  # a 2xx: a job may exist anyway
        return Pending(request_id, self._urls(request.upstream, request_id, answer))

    async def poll(self, pending: Pending, request: MediaRequest) -> Outcome:
        urls = pending.state if "status_url" in pending.state else self._urls(request.upstream, pending.upstream_id, {})
        response = await send_poll(self.client, self.name, "GET", urls["status_url"], params={"logs": "0"})
        if not response.is_success:
            raise retry_later(self.name, "status", response.status_code)
        status = json_of(response)
        state = status.get("status") if isinstance(status, Mapping) else None
        if state in RUNNING:
            return Pending(pending.upstream_id, dict(urls))
        if state != "COMPLETED":
            raise retry_later(self.name, "malformed")
        assert isinstance(status, Mapping)
        if status.get("error"):
            raise job_failed(self.name, hint=f"{status.get('error_type') or ''} {status['error']}")
        return await self._result(urls["response_url"])

    async def _result(self, url: str) -> Finished:
        response = await send_poll(self.client, self.name, "GET", url)
        code = response.status_code
        if response.is_success:
            try:
                return finished_from_result(json_of(response))
            except TypeError:
                raise retry_later(self.name, "malformed") from None
        if code >= 500 or code in NOT_A_VERDICT:
            raise retry_later(self.name, "result", code)
        detail = json_of(response)
        raise job_failed(self.name, status=code, hint=str(detail.get("detail") if isinstance(detail, Mapping) else ""))

    def parse_webhook(self, body: bytes, headers: dict[str, str]) -> tuple[str, Outcome | Exception]:
        """`(request_id, outcome)` from fal's post; a failed job comes back as its ProviderError."""
        try:
            parsed = json.loads(body)
        except ValueError:
            raise failures.malformed(self.name) from None
        try:
            return outcome_from_webhook(parsed, self.name)
        except ProviderError as error:
            if error.details.get("reason") == "malformed":
                raise
            return parsed["request_id"], error

    async def cancel(self, pending: Pending) -> bool:
        """True only when fal dropped the job from its queue: it will deliver and bill nothing.

        fal answers CANCELLATION_REQUESTED both for a queued request (removed) and for a running one
        (its runner is only signalled, and may finish and bill). So the status is read first: a
        running job still gets the signal (it may stop early, and then fails at the next poll), but
        the answer is False and the job is polled on and charged for what it delivers. A job that
        starts between the two calls is the one case where True is too hopeful."""
        url, status_url = pending.state.get("cancel_url"), pending.state.get("status_url")
        if not url or not status_url:
            return False
        try:
            status = json_of(await send_poll(self.client, self.name, "GET", status_url, params={"logs": "0"}))
            state = status.get("status") if isinstance(status, Mapping) else None
            if state not in RUNNING:
                return False
            response = await send_poll(self.client, self.name, "PUT", url)
        except ProviderError:
            return False
        answer = json_of(response)
        requested = response.is_success and isinstance(answer, Mapping) and answer.get("status") in (
            "CANCELLATION_REQUESTED", "OK")
        return requested and state == "IN_QUEUE"

    async def aclose(self) -> None:
        await self.client.aclose()
