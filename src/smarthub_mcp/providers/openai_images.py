"""OpenAI Images on the official SDK (`client.images.generate`): GPT Image and DALL-E style answers.

An `openai` provider serves chat and images (openai.py hands `submit` here). One `generate` makes
all `count` images (`n`), so the outcome is all or nothing: OpenAI refuses a whole prompt, never
single images. Synchronous: `submit` answers `Finished`.

The images client is its own, for three reasons:
- SDK retries are off for every call (`max_retries=0`, whatever the provider's `max_retries`): a
  generate whose outcome is unknown must never be sent twice;
- it waits `media_timeout_seconds` (image models take far longer than chat);
- it uses the SDK's default httpx2 transport, whose exceptions tell a request that never left
  (ConnectError) from one sent and not answered (ReadTimeout). The chat client's aiohttp transport
  reports a connection dropped after sending as a connect timeout, which would look safe to resend.

Request: model, prompt, n and size ("WxH", passed through: GPT Image models take any size within
their limits; a size the model refuses is a 400, `provider_rejected`). OpenAI takes no seed and no
negative prompt, so they are not sent. Answers: GPT Image models return `b64_json` images and a
`usage` block (input and output tokens), which becomes `Finished.usage`, priced by the jobs engine
when the model has token prices; DALL-E style answers (and compatible servers) return `url` images,
which the jobs engine copies into storage. A refusal under the content policy (400
`moderation_blocked` or `content_policy_violation`) is `provider_rejected` with reason
`content_policy`, not retried; a generate sent and not answered (a read timeout, a dropped connection,
a 504) is `ProviderOutcomeUnknown` (media_failures.py).
"""

from __future__ import annotations

import base64
from typing import Any

import openai

from smarthub_mcp.config import ProviderConfig
from smarthub_mcp.providers import failures, image_facts, media_failures
from smarthub_mcp.providers.base import Usage, token_count
from smarthub_mcp.providers.media import Finished, ImageRequest, MediaOutput, Outcome, Pending
from smarthub_mcp.tls import client_tls

URL_CONTENT_TYPE = "image/png"
"""What a URL answer is taken to be until the jobs engine fetches it (DALL-E serves PNG)."""


class OpenAIImages:
    def __init__(self, name: str, config: ProviderConfig, api_key: str) -> None:
        self.name = name
        self.config = config
        self.client = openai.AsyncOpenAI(
            api_key=api_key, base_url=config.base_url, timeout=config.media_timeout_seconds, max_retries=0,
            http_client=openai.DefaultAsyncHttpxClient(verify=client_tls()),
        )

    async def submit(self, request: ImageRequest) -> Outcome:
        try:
            response = await self.client.images.generate(
                model=request.upstream, prompt=request.prompt, n=request.count, size=request.size,
            )
        except openai.APIConnectionError as exc:  # timeouts included: the SDK chains the transport's error
            raise media_failures.from_transport(exc.__cause__, self.name) from None
        except openai.APIStatusError as exc:
            raise media_failures.from_status(exc.status_code, provider=self.name, headers=exc.response.headers,
                                             body=exc.body) from None
        except Exception as exc:
            raise failures.from_sdk(exc, openai, provider=self.name) from None
        try:
            return self._finished(response, request)
        except (TypeError, ValueError, AttributeError):
            # The SDK builds the answer without validating it: a wrong shape shows up here.
            raise failures.malformed(self.name) from None

    def _finished(self, response: Any, request: ImageRequest) -> Finished:
        outputs: list[MediaOutput] = []
        for item in response.data or ():
            if item.b64_json:
                outputs.append(image_facts.output(base64.b64decode(item.b64_json, validate=True)))
            elif item.url:
                outputs.append(MediaOutput(URL_CONTENT_TYPE, url=item.url))
        if not outputs:  # a 200 without an image is the provider's fault: another route may answer
            raise failures.malformed(self.name)
        outputs = outputs[: request.count]
        usage = None
        if response.usage is not None:
            usage = Usage(token_count(response.usage.input_tokens), token_count(response.usage.output_tokens))
        return Finished(tuple(outputs), usage=usage, failed=request.count - len(outputs))

    async def poll(self, pending: Pending, request: ImageRequest) -> Outcome:
        raise AssertionError("OpenAI Images answers at submit")  # pragma: no cover

    async def cancel(self, pending: Pending) -> bool:
        return False

    async def aclose(self) -> None:
        await self.client.close()
