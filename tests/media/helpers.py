"""Images and clocks for the media tests."""

from __future__ import annotations

import io
import os

from PIL import Image


class Clock:
    """A clock the test moves: handed to the storage as its `clock`."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def image_bytes(width: int = 64, height: int = 48, fmt: str = "PNG", *, noise: bool = False,
                mode: str = "RGB") -> bytes:
    """An image in `fmt`; `noise` makes it incompressible (the worst case for a size cap)."""
    channels = len(mode)
    if noise:
        image = Image.frombytes(mode, (width, height), os.urandom(width * height * channels))
    else:
        image = Image.new(mode, (width, height), (200, 30, 90, 128)[:channels])
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()
