"""The demo image provider: real PNGs drawn locally with Pillow, offline, deterministic.

The same prompt, size and seed always give the same bytes, so a fresh install with no keys can
generate (and tests can compare) images. Each image is a gradient whose colours come from a hash
of (prompt, seed, index), with the prompt written on it. Synchronous like Stability or OpenAI
Images: `submit` answers `Finished` at once; `poll` and `cancel` have nothing to do.

A prompt containing `[flag]` has every second image (the 2nd, 4th, ...) flagged as a provider-side
content flag would (returned in `held`, for review), so "2 of 4 delivered, 2 charged, 2 held for
review" can be tried without keys too.

An upstream model whose name ends in `-queued` behaves like a queue API (fal, kie) instead: `submit`
answers `Pending` and `poll` reports progress until the images are ready `QUEUE_SECONDS` (or the
provider's `demo_queue_seconds`) later, so the whole job path (polling workers, progress, cancel)
runs with no keys. Its upstream id carries the ready time, so any replica can poll it; cancelling
works until it is ready.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import secrets
import time

from PIL import Image, ImageDraw

from smarthub_mcp.config import ProviderConfig
from smarthub_mcp.errors import ProviderRejected
from smarthub_mcp.providers.media import Finished, ImageRequest, MediaOutput, Outcome, Pending

FLAG_MARKER = "[flag]"
QUEUED_SUFFIX = "-queued"
QUEUE_SECONDS = 2.0


def draw(prompt: str, width: int, height: int, seed: int, index: int) -> bytes:
    """One PNG, a pure function of its arguments."""
    digest = hashlib.sha256(f"{prompt}\x00{seed}\x00{index}".encode()).digest()
    top, bottom = digest[0:3], digest[3:6]
    image = Image.new("RGB", (width, height))
    pixels = ImageDraw.Draw(image)
    for y in range(height):
        t = y / max(1, height - 1)
        colour = tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        pixels.line([(0, y), (width, y)], fill=colour)
    text = prompt[:60]
    pixels.text((8, 8), text, fill=(255, 255, 255))
    pixels.text((8, 24), f"seed {seed} #{index + 1}", fill=(255, 255, 255))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def queue_ms(config: ProviderConfig | None, default_seconds: float) -> int:
    """How long a queued demo job runs: the provider's `demo_queue_seconds`, else the default."""
    seconds = config.demo_queue_seconds if config is not None else None
    return int(1000 * (default_seconds if seconds is None else seconds))


def _ready_at(pending: Pending) -> int:
    return int(pending.upstream_id.rsplit("-", 1)[-1])


class DemoImageProvider:
    def __init__(self, name: str = "demo-image", config: ProviderConfig | None = None) -> None:
        self.name = name
        self.config = config
        self.queue_ms = queue_ms(config, QUEUE_SECONDS)
        self._cancelled: set[str] = set()

    async def submit(self, request: ImageRequest) -> Outcome:
        if request.upstream.endswith(QUEUED_SUFFIX):
            ready_at = time.time_ns() // 1_000_000 + self.queue_ms
            return Pending(f"demo-{secrets.token_hex(8)}-{ready_at}", {"progress": "0"})
        return await self._draw(request)

    async def _draw(self, request: ImageRequest) -> Finished:
        width, height = request.dimensions
        seed = request.seed if request.seed is not None else 0
        images = await asyncio.to_thread(
            lambda: [draw(request.prompt, width, height, seed, i) for i in range(request.count)])
        flags = ["demo" if FLAG_MARKER in request.prompt and i % 2 else None for i in range(request.count)]
        made = [MediaOutput("image/png", data=png, width=width, height=height, flag=flag)
                for png, flag in zip(images, flags, strict=True)]
        held = tuple(m for m in made if m.flag is not None)
        return Finished(outputs=tuple(m for m in made if m.flag is None), flagged=len(held), held=held)

    async def poll(self, pending: Pending, request: ImageRequest) -> Outcome:
        if pending.upstream_id in self._cancelled:
            raise ProviderRejected("this demo job was cancelled", provider=self.name)
        left = _ready_at(pending) - time.time_ns() // 1_000_000
        if left > 0:
            done = max(0, min(99, int(100 * (1 - left / max(1, self.queue_ms)))))
            return Pending(pending.upstream_id, {"progress": str(done)})
        return await self._draw(request)

    async def cancel(self, pending: Pending) -> bool:
        if not pending.upstream_id.startswith("demo-") or _ready_at(pending) <= time.time_ns() // 1_000_000:
            return False  # synchronous, or already done: nothing left to stop
        self._cancelled.add(pending.upstream_id)
        return True

    async def aclose(self) -> None:
        return None
