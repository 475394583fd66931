"""The demo image provider: real PNGs drawn locally with Pillow, offline, deterministic.

The same prompt, size and seed always give the same bytes, so a fresh install with no keys can
generate (and tests can compare) images. Each image is a gradient whose colours come from a hash
of (prompt, seed, index), with the prompt written on it. Synchronous like Stability or OpenAI
Images: `submit` answers `Finished` at once; `poll` and `cancel` have nothing to do.

A prompt containing `[flag]` has every second image (the 2nd, 4th, ...) withheld as a provider-side
content flag would withhold it, so "2 of 4 delivered, 2 charged" can be tried without keys too.
"""

from __future__ import annotations

import asyncio
import hashlib
import io

from PIL import Image, ImageDraw

from smarthub_mcp.config import ProviderConfig
from smarthub_mcp.providers.media import Finished, ImageRequest, MediaOutput, Outcome, Pending

FLAG_MARKER = "[flag]"


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


class DemoImageProvider:
    def __init__(self, name: str = "demo-image", config: ProviderConfig | None = None) -> None:
        self.name = name
        self.config = config

    async def submit(self, request: ImageRequest) -> Outcome:
        width, height = request.dimensions
        seed = request.seed if request.seed is not None else 0
        kept = [i for i in range(request.count) if FLAG_MARKER not in request.prompt or i % 2 == 0]
        images = await asyncio.to_thread(lambda: [draw(request.prompt, width, height, seed, i) for i in kept])
        return Finished(
            outputs=tuple(MediaOutput("image/png", data=png, width=width, height=height) for png in images),
            flagged=request.count - len(kept),
        )

    async def poll(self, pending: Pending, request: ImageRequest) -> Outcome:
        raise AssertionError("the demo image provider answers at submit")  # pragma: no cover

    async def cancel(self, pending: Pending) -> bool:
        return False

    async def aclose(self) -> None:
        return None
