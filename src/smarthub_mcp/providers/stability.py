"""Stability AI Stable Image v2beta, synchronous: no official Python SDK, so httpx2 (the SDKs' client).

    POST {base_url}/v2beta/stable-image/generate/{core|ultra|sd3}
    multipart/form-data (even without a file), `authorization: Bearer <key>`, `accept: image/*`
    -> 200, the PNG bytes, headers `finish-reason: SUCCESS|CONTENT_FILTERED` and `seed`

A route's `upstream` names the endpoint: "core", "ultra", "sd3" (its default model), or an SD 3.5
model ("sd3.5-large", "sd3.5-large-turbo", "sd3.5-medium"), sent to the sd3 endpoint as `model`.
Our "WxH" size becomes the nearest aspect ratio Stability offers; it picks the pixels, and each
output carries the size read from its PNG. A seed S gives the images S, S+1, ...: they differ from
each other and come out the same again. SDK-style retries do not exist here (`max_retries` is not
used): every image request is sent once.

One image per request, so `count` images are `count` requests, at most PARALLEL at a time. What a
caller gets back (only delivered images are charged):
- something was produced (an image delivered, or filtered as CONTENT_FILTERED): `Finished` with the
  delivered images; `flagged` counts CONTENT_FILTERED images and requests refused under the content
  policy (403 `content_moderation`), `failed` every other image not delivered; a CONTENT_FILTERED
  image (Stability blurs it) is in `held`, for an admin's review;
- nothing was produced: one `ProviderError`, the most telling one: `ProviderOutcomeUnknown` first
  (a request sent and not answered, or a 504, may still be billed: the router must not send it
  elsewhere, the jobs engine keeps the credits held), then a final refusal (content policy, bad
  request, credentials), else a retryable failure (429, other 5xx): the router may try the next route.
After a final refusal, an unknown outcome or a 429, no further image request is started (they would
fail alike); those images count as failed. Error bodies (`{"id", "name", "errors": [...]}`) give
only their `name` to the classification; neither body nor key reaches a message.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace

import httpx2

from smarthub_mcp.config import ProviderConfig
from smarthub_mcp.errors import InvalidRequest, ProviderError, ProviderOutcomeUnknown
from smarthub_mcp.providers import failures, image_facts, media_failures
from smarthub_mcp.providers.media import Finished, ImageRequest, MediaOutput, Outcome, Pending
from smarthub_mcp.tls import client_tls

DEFAULT_BASE_URL = "https://api.stability.ai"
GENERATE_PATH = "/v2beta/stable-image/generate/"
ASPECT_RATIOS = ("21:9", "16:9", "3:2", "5:4", "1:1", "4:5", "2:3", "9:16", "9:21")
SEED_RANGE = 4_294_967_295  # seeds are 0..4294967294; 0 asks Stability for a random one
PARALLEL = 4  # image requests of one submit in flight at once
FILTERED = "CONTENT_FILTERED"


def aspect_ratio(size: str) -> str:
    """The supported aspect ratio nearest to "WxH" (compared as log ratios, so 2:1 is as far from 1:1
    as 1:2 is). A size that is not two positive whole numbers is the caller's error."""
    width, _, height = size.partition("x")
    try:
        wanted = math.log(int(width) / int(height))
    except (ValueError, ZeroDivisionError):
        raise InvalidRequest("size must be WIDTHxHEIGHT in pixels, e.g. 1024x1024", details={"size": size}) from None

    def distance(ratio: str) -> float:
        a, _, b = ratio.partition(":")
        return abs(math.log(int(a) / int(b)) - wanted)

    return min(ASPECT_RATIOS, key=distance)


def endpoint(upstream: str) -> tuple[str, str | None]:
    """(path, model field) for a route's upstream name."""
    if upstream.startswith("sd3") and upstream != "sd3":
        return GENERATE_PATH + "sd3", upstream
    return GENERATE_PATH + upstream, None


def _final(error: ProviderError) -> bool:
    """After this failure, further requests of the same submit would fail alike (or must not go)."""
    return not error.retryable or error.upstream_status == 429


def _telling(errors: list[ProviderError]) -> ProviderError:
    """The error to raise when no image was produced: see the module's docstring for the order."""
    for error in errors:
        if isinstance(error, ProviderOutcomeUnknown):
            return error
    return next((e for e in errors if not e.retryable), errors[0])


class StabilityProvider:
    def __init__(self, name: str, config: ProviderConfig, api_key: str) -> None:
        self.name = name
        self.config = config
        self.client = httpx2.AsyncClient(
            base_url=config.base_url or DEFAULT_BASE_URL,
            headers={"authorization": f"Bearer {api_key}", "accept": "image/*"},
            timeout=config.media_timeout_seconds,
            verify=client_tls(),
        )

    async def submit(self, request: ImageRequest) -> Outcome:
        path, fields = self._form(request)
        gate = asyncio.Semaphore(PARALLEL)
        stopped = False

        async def one(index: int) -> MediaOutput | ProviderError | None:
            nonlocal stopped
            async with gate:
                if stopped:
                    return None  # not sent
                try:
                    return await self._image(path, fields, request.seed, index)
                except ProviderError as error:
                    stopped = stopped or _final(error)
                    return error

        results = await asyncio.gather(*(one(i) for i in range(request.count)))
        outputs = tuple(r for r in results if isinstance(r, MediaOutput) and r.flag is None)
        held = tuple(r for r in results if isinstance(r, MediaOutput) and r.flag is not None)
        errors = [r for r in results if isinstance(r, ProviderError)]
        refused = sum(1 for e in errors if (e.details or {}).get("reason") == "content_policy")
        if not outputs and not held:
            raise _telling(errors) if errors else failures.malformed(self.name)
        flagged = len(held) + refused
        return Finished(outputs, flagged=flagged, failed=request.count - len(outputs) - flagged, held=held)

    def _form(self, request: ImageRequest) -> tuple[str, dict[str, str]]:
        """The path and the form fields every image of this request shares."""
        path, model = endpoint(request.upstream)
        fields = {"prompt": request.prompt, "aspect_ratio": aspect_ratio(request.size), "output_format": "png"}
        if request.negative_prompt:
            fields["negative_prompt"] = request.negative_prompt
        if model is not None:
            fields["model"] = model
        return path, fields

    async def _image(self, path: str, fields: dict[str, str], seed: int | None, index: int) -> MediaOutput:
        """One request: its image (flagged when filtered), or a ProviderError raised."""
        if seed is not None:
            fields = {**fields, "seed": str((seed + index) % SEED_RANGE)}
        try:
            # The API takes multipart only, even with no file: an empty "none" part makes httpx2 send it.
            response = await self.client.post(path, data=fields, files={"none": ("", b"")})
        except httpx2.HTTPError as exc:
            raise media_failures.from_transport(exc, self.name) from None
        if response.status_code != 200:
            raise self._error(response)
        try:
            return self._answer(response)
        except ValueError:  # image_facts.NotAnImage included
            raise failures.malformed(self.name) from None

    def _answer(self, response: httpx2.Response) -> MediaOutput:
        finish = response.headers.get("finish-reason", "SUCCESS")
        if finish not in ("SUCCESS", FILTERED):
            raise ValueError("unknown finish reason")
        output = image_facts.output(response.content)
        # A 200 with a blurred image: held for review, delivered only if an admin approves it.
        return replace(output, flag="content_filtered") if finish == FILTERED else output

    def _error(self, response: httpx2.Response) -> ProviderError:
        try:
            body = response.json()
            name = str(body.get("name") or "") if isinstance(body, dict) else ""
        except ValueError:
            name = ""
        if name == "content_moderation":
            return failures.content_policy(response.status_code, provider=self.name)
        return media_failures.from_status(response.status_code, provider=self.name, headers=response.headers,
                                          body={"type": name})

    async def poll(self, pending: Pending, request: ImageRequest) -> Outcome:
        raise AssertionError("Stability answers at submit")  # pragma: no cover

    async def cancel(self, pending: Pending) -> bool:
        return False

    async def aclose(self) -> None:
        await self.client.aclose()
