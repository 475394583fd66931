"""HTTP plumbing the queue-style media adapters (fal, kie) share, on `httpx2` (no vendor SDK).

    client = http_client(config, {"Authorization": f"Key {key}"})
    response = await send_submit(client, provider, "POST", url, json=body)   # sent exactly once
    response = await send_poll(client, provider, "GET", status_url)

A submit is one HTTP request, never repeated, and its failures split by what the provider may
have done with it:

- the request never left us (connect error or timeout, no free connection): retryable, the router
  may try the next route;
- it was sent and no answer came back (read or write timeout, dropped connection, a 504 from the
  provider's gateway, a 2xx we cannot read): `ProviderOutcomeUnknown`, not retryable. The provider
  may have accepted the job and may bill it: the jobs engine keeps the hold and reconciles;
- the provider answered with an error: `failures.from_status` (5xx and 429 retryable, 4xx not).

A poll or a result fetch is read-only, so every failure there is retryable ("ask again later"),
whatever the status: a 401 or a 404 while polling says nothing about the job itself, and a job
must never be failed (and refunded) while the provider may still finish and bill it (peers'
bug, media-providers.md §7). Only the provider's own verdict on the job ends it: `job_failed`.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
from typing import Any

import httpx2

from smarthub_mcp.config import ProviderConfig
from smarthub_mcp.errors import ProviderError, ProviderOutcomeUnknown, ProviderRejected
from smarthub_mcp.providers import failures
from smarthub_mcp.providers.media import MediaOutput, VideoRequest
from smarthub_mcp.tls import client_tls

NOT_SENT = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout)
"""Failures before a byte of the request reached the provider: nothing can exist upstream."""

CONTENT_MARKERS = (*failures.CONTENT_POLICY_MARKERS, "nsfw", "sensitive", "violat", "unsafe")


def http_client(config: ProviderConfig, headers: dict[str, str]) -> httpx2.AsyncClient:
    # No transport retries (httpx2 makes none unless asked), no redirects (a redirected POST could
    # be sent twice), and no proxy settings from the environment surprising an operator.
    timeout = httpx2.Timeout(config.timeout_seconds, connect=min(10.0, config.timeout_seconds))
    return httpx2.AsyncClient(headers=headers, timeout=timeout, follow_redirects=False, trust_env=False,
                              verify=client_tls())


def outcome_unknown(provider: str, reason: str, status: int | None = None) -> ProviderOutcomeUnknown:
    details: dict[str, Any] = {"provider": provider, "reason": reason}
    if status is not None:
        details["upstream_status"] = status
    return ProviderOutcomeUnknown(
        "The AI provider may have accepted this job but its answer was lost; it is being checked",
        upstream_status=status, provider=provider, details=details,
    )


def retry_later(provider: str, reason: str, status: int | None = None) -> ProviderError:
    details: dict[str, Any] = {"provider": provider, "reason": reason}
    if status is not None:
        details["upstream_status"] = status
    return ProviderError(
        "The AI provider's job status could not be read; it will be checked again",
        upstream_status=status, retryable=True, provider=provider, details=details,
    )


def job_failed(provider: str, *, status: int | None = None, hint: str = "") -> ProviderError:
    """The provider's verdict: this job failed and will deliver nothing. `hint` (the provider's
    own error text or code) only picks the class; it is never copied into the error."""
    details: dict[str, Any] = {"provider": provider, "reason": "generation_failed"}
    if status is not None:
        details["upstream_status"] = status
    if any(marker in hint.lower() for marker in CONTENT_MARKERS):
        return ProviderRejected(
            "The AI provider refused this request under its content policy",
            upstream_status=status, provider=provider, details={**details, "reason": "content_policy"},
        )
    if status in (400, 422):
        return ProviderRejected(
            "The AI provider rejected this request (invalid for this model)",
            upstream_status=status, provider=provider, details={**details, "reason": "invalid_input"},
        )
    return ProviderError("The AI provider failed to generate this job", upstream_status=status,
                         provider=provider, details=details)


async def send_submit(client: httpx2.AsyncClient, provider: str, method: str, url: str,
                      **kwargs: Any) -> httpx2.Response:
    """Send a submit once; return a 2xx response or raise the ProviderError its failure means."""
    try:
        response = await client.request(method, url, **kwargs)
    except NOT_SENT:
        raise failures.unreachable(provider) from None
    except httpx2.HTTPError:
        raise outcome_unknown(provider, "no_answer") from None
    if response.status_code == 504:
        raise outcome_unknown(provider, "gateway_timeout", 504)
    if not response.is_success:
        raise failures.from_status(response.status_code, provider=provider, headers=response.headers)
    return response


async def send_poll(client: httpx2.AsyncClient, provider: str, method: str, url: str,
                    **kwargs: Any) -> httpx2.Response:
    """Send a read-only request; any failure is retryable (see the module docstring)."""
    try:
        return await client.request(method, url, **kwargs)
    except httpx2.TimeoutException:
        raise retry_later(provider, "timeout") from None
    except httpx2.HTTPError:
        raise retry_later(provider, "connection") from None


def json_of(response: httpx2.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def output_from_url(url: Any, content_type: Any = None, width: Any = None, height: Any = None) -> MediaOutput:
    """A `MediaOutput` for a provider file; a `data:` URI (fal's sync mode) is decoded here."""
    if not isinstance(url, str) or not url:
        raise TypeError("an output has no URL")
    kind = content_type if isinstance(content_type, str) and content_type else None
    size = (width if _whole(width) else None, height if _whole(height) else None)
    if url.startswith("data:"):
        header, _, payload = url.partition(",")
        try:
            data = base64.b64decode(payload, validate=True)
        except binascii.Error:
            raise TypeError("an output's data URI is not base64") from None
        kind = kind or header[5:].split(";")[0] or "application/octet-stream"
        return MediaOutput(kind, data=data, width=size[0], height=size[1])
    if not url.startswith(("https://", "http://")):
        raise TypeError("an output URL is not http(s)")
    kind = kind or mimetypes.guess_type(url.split("?")[0])[0] or "image/png"
    return MediaOutput(kind, url=url, width=size[0], height=size[1])


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def video_input(request: VideoRequest) -> dict[str, Any]:
    """The input fal's and kie's video models share: prompt, duration (a string), aspect ratio, and the
    optional start image (image-to-video), negative prompt and seed."""
    body: dict[str, Any] = {"prompt": request.prompt, "duration": str(request.duration_seconds),
                            "aspect_ratio": request.aspect_ratio}
    if request.start_image_url:
        body["image_url"] = request.start_image_url
    if request.negative_prompt:
        body["negative_prompt"] = request.negative_prompt
    if request.seed is not None:
        body["seed"] = request.seed
    return body
