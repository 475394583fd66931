"""Runway video adapter, on the official `runwayml` SDK.

`RunwayProvider(name, config, api_key)` keeps two views of one `AsyncRunwayML` client: creates go
through one with `max_retries=0` (the SDK would otherwise resend a POST after a read timeout or a
5xx, with no idempotency key: two billed tasks), reads and cancels through one with the configured
`max_retries` (sending those twice is harmless).

    submit -> image_to_video.create (a start image) or text_to_video.create -> Pending(task id)
    poll   -> tasks.retrieve: PENDING | THROTTLED | RUNNING (progress 0..1) | SUCCEEDED | FAILED | CANCELLED
    cancel -> tasks.delete, only while the task has not started (see `cancel`)

Runway reports what it charged on every finished task (`cost.credits`, its own credits, 1 = $0.01):
`Finished.provider_charge` on success, `details["provider_charge"]` on a failed or cancelled task.
A failed status request is always retryable (`failures.poll_failed`): only the task's own FAILED or
CANCELLED ends it.
Ratios are Runway's pixel sizes; "16:9" style ratios are translated with `RATIOS`, a "1280:720"
style ratio is sent as given. Runway takes no negative prompt.
"""

from __future__ import annotations

from typing import Any

import httpx
import runwayml

from smarthub_mcp.config import ProviderConfig
from smarthub_mcp.errors import ProviderError, ProviderRejected, ProviderTaskFailed
from smarthub_mcp.providers import failures
from smarthub_mcp.providers.media import Finished, MediaOutput, MediaRequest, Outcome, Pending, VideoRequest
from smarthub_mcp.tls import client_tls

RATIOS = {"16:9": "1280:720", "9:16": "720:1280", "1:1": "960:960", "4:3": "1104:832", "3:4": "832:1104",
          "21:9": "1584:672"}
"""Our aspect ratios as gen4 / gen4.5 sizes; other models take other sizes (veo3.1: 1920:1080...),
which a route can give as its aspect ratio directly."""
WAITING = ("PENDING", "THROTTLED")
UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def ratio(aspect_ratio: str) -> str:
    return RATIOS.get(aspect_ratio, aspect_ratio)


def progress(value: Any) -> str:
    """Runway's 0..1 progress as our "0".."99" string: 100 is for a task that has finished."""
    try:
        share = float(value)
    except (TypeError, ValueError):
        return "0"
    return str(max(0, min(99, int(share * 100))))


def _credits(task: Any) -> int | None:
    cost = getattr(task, "cost", None)
    credits = getattr(cost, "credits", None)
    return int(credits) if isinstance(credits, int | float) else None


class RunwayProvider:
    def __init__(self, name: str, config: ProviderConfig, *, api_key: str) -> None:
        self.name = name
        self.config = config
        self.client = runwayml.AsyncRunwayML(api_key=api_key, base_url=config.base_url,
                                             timeout=config.timeout_seconds, max_retries=0,
                                             http_client=runwayml.DefaultAsyncHttpxClient(verify=client_tls()))
        self.reader = self.client.with_options(max_retries=config.max_retries)

    def _create_failure(self, exc: Exception) -> ProviderError:
        if isinstance(exc, runwayml.APIConnectionError):  # timeouts included
            if isinstance(exc.__cause__, UNSENT):
                return failures.unreachable(self.name)
            return failures.outcome_unknown(self.name, "no_answer")
        if isinstance(exc, runwayml.APIStatusError):
            if exc.status_code == 504:  # a gateway gave up waiting; the task may exist behind it
                return failures.outcome_unknown(self.name, "gateway_timeout")
            return failures.from_sdk(exc, runwayml, provider=self.name)
        # A 2xx whose body we could not read (or validate): the task may exist.
        return failures.outcome_unknown(self.name, "unreadable_answer")

    async def submit(self, request: MediaRequest) -> Outcome:
        if not isinstance(request, VideoRequest):
            raise ProviderRejected("This provider makes videos only", provider=self.name,
                                   details={"provider": self.name, "reason": "wrong_kind"})
        params: dict[str, Any] = {"model": request.upstream, "prompt_text": request.prompt,
                                  "ratio": ratio(request.aspect_ratio), "duration": request.duration_seconds}
        if request.seed is not None:
            params["seed"] = request.seed
        try:
            if request.start_image_url:
                created: Any = await self.client.image_to_video.create(
                    prompt_image=request.start_image_url, **params)
            else:
                created = await self.client.text_to_video.create(**params)
            task_id = created.id
        except Exception as exc:
            raise self._create_failure(exc) from None
        if not isinstance(task_id, str) or not task_id:
            raise failures.outcome_unknown(self.name, "unreadable_answer")
        return Pending(task_id, {"status": "PENDING", "progress": "0"})

    async def _retrieve(self, task_id: str) -> Any:
        try:
            return await self.reader.tasks.retrieve(task_id)
        except Exception as exc:
            raise failures.from_sdk(exc, runwayml, provider=self.name) from None

    async def poll(self, pending: Pending, request: MediaRequest) -> Outcome:
        try:
            task = await self._retrieve(pending.upstream_id)
        except ProviderError as exc:  # says nothing about the task itself: ask again later
            raise failures.poll_failed(exc) from None
        status = getattr(task, "status", None)
        if status in WAITING:
            return Pending(pending.upstream_id, {"status": status, "progress": "0"})
        if status == "RUNNING":
            return Pending(pending.upstream_id, {"status": status, "progress": progress(getattr(task, "progress", 0))})
        if status == "SUCCEEDED":
            urls = getattr(task, "output", None)
            if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
                raise failures.malformed(self.name)
            return Finished(outputs=tuple(MediaOutput("video/mp4", url=u) for u in urls),
                            provider_charge=_credits(task))
        if status == "FAILED":
            raise self._failed(task)
        if status == "CANCELLED":
            raise ProviderTaskFailed("The job was cancelled at the AI provider", provider=self.name,
                                     details={"provider": self.name, "reason": "cancelled",
                                              "provider_charge": _credits(task)})
        raise failures.malformed(self.name)

    def _failed(self, task: Any) -> ProviderError:
        code = getattr(task, "failure_code", None)
        code = code if isinstance(code, str) else ""
        details: dict[str, Any] = {"provider": self.name, "provider_code": code or None,
                                   "provider_charge": _credits(task)}
        if "SAFETY" in code:  # SAFETY.INPUT.TEXT, INPUT_PREPROCESSING.SAFETY.IMAGE...
            return ProviderRejected("The AI provider refused this request under its content policy",
                                    provider=self.name, details={**details, "reason": "content_policy"})
        if code.startswith(("ASSET.", "INPUT_PREPROCESSING.")):
            return ProviderRejected("The AI provider could not use this request's input", provider=self.name,
                                    details={**details, "reason": "invalid_input"})
        # `failure` is Runway's human text; Runway advises against showing it as is, so it stays out.
        return ProviderTaskFailed("The AI provider could not make this video", provider=self.name,
                                  details={**details, "reason": "upstream_failed"})

    async def cancel(self, pending: Pending) -> bool:
        """True only when Runway confirms the task was stopped before it ran, so it bills nothing.

        Runway refunds a deleted task only while it is PENDING or THROTTLED. A RUNNING task is left
        to finish (deleting it would still be billed and deliver nothing): False, and the job goes on
        to give the caller the video they pay for. The status can change between our look and the
        delete; so the task is read again afterwards and its final `cost.credits` decides: 0 (or the
        task gone) is True; anything charged is False, and the next poll settles the job on the
        charge Runway reports."""
        task = await self._retrieve(pending.upstream_id)
        if getattr(task, "status", None) not in WAITING:
            return False
        try:
            await self.reader.tasks.delete(pending.upstream_id)
        except Exception as exc:
            raise failures.from_sdk(exc, runwayml, provider=self.name) from None
        try:
            after = await self.reader.tasks.retrieve(pending.upstream_id)
        except runwayml.NotFoundError:
            return True
        except Exception as exc:
            raise failures.from_sdk(exc, runwayml, provider=self.name) from None
        return getattr(after, "status", None) == "CANCELLED" and not _credits(after)

    async def aclose(self) -> None:
        await self.client.close()
