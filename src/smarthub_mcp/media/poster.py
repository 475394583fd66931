"""A video's poster frame: its first picture, as a preview small enough for a tool result.

Decoded with PyAV (FFmpeg's libraries, bundled in its wheel). A video it cannot read gets no poster
rather than an error: the video itself is still kept and served, and its length and size stay
unknown. Pure function over bytes; run it off the event loop.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

from smarthub_mcp.media.thumbs import preview

log = logging.getLogger("smarthub.media")


@dataclass(frozen=True)
class VideoFacts:
    width: int
    height: int
    seconds: float | None
    poster: tuple[bytes, str]
    """(bytes, content type) of the first frame's preview."""


def inspect_video(data: bytes) -> VideoFacts | None:
    """Size, length and poster of an MP4/WebM/MOV, or None when it cannot be decoded."""
    import av  # FFmpeg's libraries are large: loaded when a video is first stored

    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            stream = container.streams.video[0]
            seconds = float(container.duration) / 1_000_000 if container.duration else None
            frame = next(container.decode(stream))
            image = frame.to_image()
    except (av.FFmpegError, IndexError, StopIteration, ValueError, OSError) as exc:
        log.info("no poster frame: the video could not be decoded (%s)", type(exc).__name__)
        return None
    out = io.BytesIO()
    image.save(out, format="PNG")
    return VideoFacts(image.width, image.height, seconds, preview(out.getvalue(), "image/png"))
