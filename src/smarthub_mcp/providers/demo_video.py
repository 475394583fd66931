"""The demo video provider: real H.264 MP4s encoded locally (PyAV's bundled FFmpeg), offline.

The same prompt, duration, aspect ratio and seed always give the same clip: a gradient whose colours
come from a hash of (prompt, seed) drifting frame by frame, with the prompt written on it, at
`FPS` frames a second, 320 pixels on the long side. Like Kling or Runway it is a queue: `submit`
answers `Pending`, `poll` reports progress, and the clip is ready `QUEUE_SECONDS` (or the provider's
`demo_queue_seconds`) later. Its upstream id carries the ready time, so any replica can poll it;
cancelling works until it is ready (this provider then bills nothing, like Runway before a task runs).
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
from smarthub_mcp.providers.demo_image import queue_ms
from smarthub_mcp.providers.media import Finished, MediaOutput, Outcome, Pending, VideoRequest

FPS = 8
LONG_SIDE = 320
QUEUE_SECONDS = 3.0


def frame_size(aspect_ratio: str) -> tuple[int, int]:
    """Even dimensions (H.264 wants them) with `LONG_SIDE` on the long side."""
    try:
        w, h = (int(x) for x in aspect_ratio.split(":"))
    except ValueError:
        w, h = 16, 9
    if w >= h:
        return LONG_SIDE, max(2, round(LONG_SIDE * h / w / 2) * 2)
    return max(2, round(LONG_SIDE * w / h / 2) * 2), LONG_SIDE


def encode(prompt: str, seconds: int, aspect_ratio: str, seed: int) -> bytes:
    """One MP4, a pure function of its arguments."""
    import av  # loaded on first use: FFmpeg's libraries are large

    width, height = frame_size(aspect_ratio)
    digest = hashlib.sha256(f"{prompt}\x00{seed}".encode()).digest()
    out = io.BytesIO()
    container = av.open(out, "w", format="mp4")
    stream = container.add_stream("libx264", rate=FPS, options={"preset": "veryfast", "crf": "28"})
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    total = max(1, seconds * FPS)
    for i in range(total):
        shift = int(255 * i / total)
        top = tuple((c + shift) % 256 for c in digest[0:3])
        bottom = tuple((c + 2 * shift) % 256 for c in digest[3:6])
        image = Image.new("RGB", (width, height))
        pen = ImageDraw.Draw(image)
        for y in range(height):
            t = y / max(1, height - 1)
            pen.line([(0, y), (width, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)))
        pen.text((6, 6), prompt[:40], fill=(255, 255, 255))
        pen.text((6, height - 16), f"{i // FPS + 1}/{seconds} s", fill=(255, 255, 255))
        for packet in stream.encode(av.VideoFrame.from_image(image)):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return out.getvalue()


def _ready_at(pending: Pending) -> int:
    return int(pending.upstream_id.rsplit("-", 1)[-1])


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class DemoVideoProvider:
    def __init__(self, name: str = "demo-video", config: ProviderConfig | None = None) -> None:
        self.name = name
        self.config = config
        self.queue_ms = queue_ms(config, QUEUE_SECONDS)
        self._cancelled: set[str] = set()

    async def submit(self, request: VideoRequest) -> Outcome:
        return Pending(f"demov-{secrets.token_hex(8)}-{_now_ms() + self.queue_ms}", {"progress": "0"})

    async def poll(self, pending: Pending, request: VideoRequest) -> Outcome:
        if pending.upstream_id in self._cancelled:
            raise ProviderRejected("this demo video was cancelled", provider=self.name)
        left = _ready_at(pending) - _now_ms()
        if left > 0:
            return Pending(pending.upstream_id,
                           {"progress": str(max(0, min(99, int(100 * (1 - left / max(1, self.queue_ms))))))})
        seed = request.seed if request.seed is not None else 0
        clip = await asyncio.to_thread(encode, request.prompt, request.duration_seconds, request.aspect_ratio, seed)
        width, height = frame_size(request.aspect_ratio)
        return Finished(outputs=(MediaOutput("video/mp4", data=clip, width=width, height=height),),
                        seconds=float(request.duration_seconds))

    async def cancel(self, pending: Pending) -> bool:
        if _ready_at(pending) <= _now_ms():
            return False
        self._cancelled.add(pending.upstream_id)
        return True

    async def aclose(self) -> None:
        return None
