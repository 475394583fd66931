"""What an image's bytes say about it: its content type and size, read from the header only.

Adapters describe the bytes a provider returned with these facts rather than trusting a header or
the size asked for (Stability answers an aspect ratio, not a size), and refuse bytes that are not
an image at all: such an answer is malformed, not a delivered image.
"""

from __future__ import annotations

import io

from PIL import Image, UnidentifiedImageError

from smarthub_mcp.providers.media import MediaOutput

CONTENT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}


class NotAnImage(ValueError):
    """The bytes are not an image in a format we deliver."""


def output(data: bytes) -> MediaOutput:
    """A MediaOutput carrying `data`, with its type and size. Raises NotAnImage."""
    try:
        with Image.open(io.BytesIO(data)) as image:  # lazy: parses the header, decodes no pixels
            kind, (width, height) = image.format, image.size
    except (UnidentifiedImageError, OSError, ValueError):
        raise NotAnImage("not an image") from None
    content_type = CONTENT_TYPES.get(kind or "")
    if content_type is None:
        raise NotAnImage(f"unsupported image format {kind!r}")
    return MediaOutput(content_type, data=data, width=width, height=height)
