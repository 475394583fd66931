"""Kling video adapter, on Kling's official HTTP API (no SDK exists; httpx, as runwayml uses).

`KlingProvider(name, config, access_key, secret_key)`. Every request carries a fresh HS256 JWT
(`iss` = access key, `nbf` 5 s back for clock skew, `exp` 30 min ahead) signed with the secret key:
nothing long-lived is sent, and nothing needs refreshing between a submit and a poll.

    submit -> POST /v1/videos/text2video | /v1/videos/image2video (when a start image is given)
    poll   -> GET  /v1/videos/{kind}/{task_id}   (the kind travels in Pending.state)
    cancel -> False: Kling has no cancellation; a started task runs and is billed.

Our job id goes out as `external_task_id`, so a task whose create answer was lost can be found in
Kling's console by it. `duration` is a string and only "5" or "10" exist: any other length is
refused before sending (pricing must not drift from what is made). Kling takes no seed; the
aspect ratio only applies to text-to-video (image-to-video follows the image).

Errors arrive as an HTTP status and a non-zero JSON `code` (1000-1004 auth, 1100-1103 account,
1200-1203 parameters, 1300-1301 content policy, 1302-1303 rate and concurrency limits, 5000-5002
server); the code is kept in `details["provider_code"]`, Kling's message is not. A create whose
answer never came (read timeout, connection cut, a 504) raises `ProviderOutcomeUnknown`. A failed
status request is always retryable (`failures.poll_failed`): only the task's own `failed` ends it. Kling
reports no progress percentage: a task is at "0" while `submitted` and has no figure while
`processing`; `Pending.state["status"]` says which.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt

from smarthub_mcp.config import ProviderConfig
from smarthub_mcp.errors import ProviderError, ProviderRejected, ProviderTaskFailed, ProviderUnavailable
from smarthub_mcp.providers import failures
from smarthub_mcp.providers.media import Finished, MediaOutput, MediaRequest, Outcome, Pending, VideoRequest
from smarthub_mcp.tls import client_tls

DEFAULT_BASE_URL = "https://api-singapore.klingai.com"
TOKEN_SECONDS = 1800
DURATIONS = frozenset({5, 10})
UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
"""Transport failures that happen before a byte of the request left: safe to send elsewhere."""


def token(access_key: str, secret_key: str, now: float | None = None) -> str:
    issued = int(time.time() if now is None else now)
    claims = {"iss": access_key, "exp": issued + TOKEN_SECONDS, "nbf": issued - 5}
    return jwt.encode(claims, secret_key, algorithm="HS256", headers={"typ": "JWT"})


def error_for(status: int, code: int | None, *, provider: str, headers: Any = None) -> ProviderError:
    """One ProviderError for a Kling error answer (HTTP status and JSON `code`)."""
    details: dict[str, Any] = {"provider": provider, "upstream_status": status}
    if code is not None:
        details["provider_code"] = code
    if code is None or not 1000 <= code < 6000:
        error = failures.from_status(status if status >= 400 else 502, provider=provider, headers=headers)
        error.details.update(details)
        return error
    if code < 1100:
        return ProviderError("The AI provider refused the server's credentials", upstream_status=status,
                             provider=provider, details={**details, "reason": "auth"})
    if code < 1103:  # arrears, resource pack used up or expired: another route may still serve
        return ProviderUnavailable("The AI provider account cannot take more work right now",
                                   upstream_status=status, retryable=True, provider=provider,
                                   details={**details, "reason": "account"})
    if code == 1103:
        return ProviderError("The AI provider account may not use this model", upstream_status=status,
                             provider=provider, details={**details, "reason": "permission"})
    if 1300 <= code <= 1301:
        return ProviderRejected("The AI provider refused this request under its content policy",
                                upstream_status=status, provider=provider,
                                details={**details, "reason": "content_policy"})
    if code in (1302, 1303):
        return ProviderError("The AI provider is busy (rate limited); try again shortly", upstream_status=status,
                             retryable=True, retry_after=failures.retry_after_seconds(headers), provider=provider,
                             details={**details, "reason": "rate_limited"})
    if code >= 5000:
        return ProviderError("The AI provider is temporarily unavailable", upstream_status=status, retryable=True,
                             provider=provider, details=details)
    return ProviderRejected("The AI provider rejected this request (invalid for this model)",
                            upstream_status=status, provider=provider, details={**details, "reason": "invalid"})


class KlingProvider:
    def __init__(self, name: str, config: ProviderConfig, *, access_key: str, secret_key: str) -> None:
        self.name = name
        self.config = config
        self._access_key = access_key
        self._secret_key = secret_key
        self.client = httpx.AsyncClient(base_url=(config.base_url or DEFAULT_BASE_URL).rstrip("/"),
                                        timeout=config.timeout_seconds, verify=client_tls())

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {token(self._access_key, self._secret_key)}"}

    def _body(self, request: VideoRequest) -> dict[str, Any]:
        body: dict[str, Any] = {"model_name": request.upstream, "prompt": request.prompt, "mode": request.mode,
                                "duration": str(request.duration_seconds)}
        if request.start_image_url:
            body["image"] = request.start_image_url
        else:
            body["aspect_ratio"] = request.aspect_ratio
        if request.negative_prompt:
            body["negative_prompt"] = request.negative_prompt
        if request.external_id:
            body["external_task_id"] = request.external_id
        return body

    def _data(self, response: httpx.Response) -> dict[str, Any]:
        """The `data` of a successful envelope, or the ProviderError the answer means."""
        try:
            payload = response.json()
        except ValueError:
            payload = None
        code = payload.get("code") if isinstance(payload, dict) else None
        code = code if isinstance(code, int) and not isinstance(code, bool) else None
        if response.status_code >= 400 or code != 0:
            if response.status_code < 400 and code is None:
                raise failures.malformed(self.name)
            raise error_for(response.status_code, code, provider=self.name, headers=response.headers)
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, dict):
            raise failures.malformed(self.name)
        return data

    async def submit(self, request: MediaRequest) -> Outcome:
        if not isinstance(request, VideoRequest):
            raise ProviderRejected("This provider makes videos only", provider=self.name,
                                   details={"provider": self.name, "reason": "wrong_kind"})
        if request.duration_seconds not in DURATIONS:
            raise ProviderRejected(f"This model makes videos of {' or '.join(map(str, sorted(DURATIONS)))} seconds",
                                   provider=self.name, details={"provider": self.name, "reason": "duration"})
        kind = "image2video" if request.start_image_url else "text2video"
        try:
            response = await self.client.post(f"/v1/videos/{kind}", json=self._body(request), headers=self._headers())
        except UNSENT:
            raise failures.unreachable(self.name) from None
        except httpx.HTTPError:  # sent, then timed out or cut: Kling may have the task
            raise failures.outcome_unknown(self.name, "no_answer") from None
        if response.status_code == 504:  # a gateway gave up waiting; the task may exist behind it
            raise failures.outcome_unknown(self.name, "gateway_timeout")
        try:
            data = self._data(response)
        except ProviderError as exc:
            if response.status_code < 400 and exc.details.get("reason") == "malformed":
                # A 2xx we cannot read may still have created the task.
                raise failures.outcome_unknown(self.name, "unreadable_answer") from None
            raise
        task_id = data.get("task_id")
        if not isinstance(task_id, str | int) or not str(task_id):
            raise failures.outcome_unknown(self.name, "unreadable_answer")
        return Pending(str(task_id), {"kind": kind, "status": str(data.get("task_status") or "submitted"),
                                      "progress": "0"})

    async def poll(self, pending: Pending, request: MediaRequest) -> Outcome:
        kind = pending.state.get("kind") or (
            "image2video" if isinstance(request, VideoRequest) and request.start_image_url else "text2video")
        try:
            response = await self.client.get(f"/v1/videos/{kind}/{pending.upstream_id}", headers=self._headers())
        except httpx.TimeoutException:
            raise failures.timeout(self.name) from None
        except httpx.HTTPError:
            raise failures.unreachable(self.name) from None
        try:
            data = self._data(response)
        except ProviderError as exc:
            raise failures.poll_failed(exc) from None
        status = data.get("task_status")
        if status in ("submitted", "processing"):
            state = {"kind": kind, "status": status}
            if status == "submitted":
                state["progress"] = "0"
            return Pending(pending.upstream_id, state)
        if status == "failed":
            raise ProviderTaskFailed("The AI provider could not make this video", provider=self.name,
                                     details={"provider": self.name, "reason": "upstream_failed"})
        if status == "succeed":
            return self._finished(data)
        raise failures.malformed(self.name)

    def _finished(self, data: dict[str, Any]) -> Finished:
        videos = (data.get("task_result") or {}).get("videos") or []
        outputs: list[MediaOutput] = []
        seconds = 0.0
        for video in videos:
            if not isinstance(video, dict) or not isinstance(video.get("url"), str):
                raise failures.malformed(self.name)
            outputs.append(MediaOutput("video/mp4", url=video["url"]))
            try:
                seconds += float(video.get("duration") or 0)
            except (TypeError, ValueError):
                raise failures.malformed(self.name) from None
        if not outputs:  # "succeed" with nothing to fetch: ask again rather than deliver nothing
            raise failures.malformed(self.name)
        return Finished(outputs=tuple(outputs), seconds=seconds or None)

    async def cancel(self, pending: Pending) -> bool:
        return False  # Kling's API has no cancellation: a submitted task runs to the end

    async def aclose(self) -> None:
        await self.client.aclose()
