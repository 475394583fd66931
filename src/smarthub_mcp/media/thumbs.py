"""Previews small enough to travel inside a tool result, and the facts read from an image.

Claude Desktop refuses a whole tool result over 1 MiB (and base64 adds a third), so a preview is
at most `MAX_PREVIEW_BYTES`: the image fitted into `MAX_PREVIEW_SIDE` pixels, as JPEG (PNG when it
has transparency), with the quality, then the size, lowered until it fits. Pure functions over
bytes; Pillow refuses images with more pixels than `MAX_PIXELS` before decoding them.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from smarthub_mcp.media.errors import InvalidMedia

MAX_PREVIEW_BYTES = 200_000
MAX_PREVIEW_SIDE = 512
MAX_PIXELS = 64_000_000
"""An 8000 x 8000 image; beyond that a "picture" is more likely a decompression bomb."""

_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}
_QUALITIES = (85, 75, 65, 50, 35)


@dataclass(frozen=True)
class ImageFacts:
    content_type: str
    width: int
    height: int


def _open(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_PIXELS:
                raise InvalidMedia(f"the image is too large ({image.width} x {image.height} pixels)")
            return image
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning, OSError,
            ValueError, SyntaxError):
        # Pillow reports a damaged header with any of these.
        raise InvalidMedia("the data is not an image this server can read") from None


def inspect_image(data: bytes) -> ImageFacts:
    """The format (as a content type) and size Pillow reads from the header; InvalidMedia otherwise."""
    image = _open(data)
    content_type = _FORMATS.get(image.format or "")
    if content_type is None:
        raise InvalidMedia(f"images in {image.format or 'this'} format are not kept")
    return ImageFacts(content_type, image.width, image.height)


def preview(data: bytes, content_type: str) -> tuple[bytes, str]:
    """A preview of the image `data` of at most MAX_PREVIEW_BYTES: `(bytes, content type)`.

    `content_type` is what the caller believes; the bytes decide. InvalidMedia when they are not an
    image (videos have no preview here)."""
    if not content_type.startswith("image/"):
        raise InvalidMedia("previews are made for images only")
    source = _open(data)
    try:
        source.draft("RGB", (MAX_PREVIEW_SIDE, MAX_PREVIEW_SIDE))  # JPEG: decode at a reduced scale
        image = ImageOps.exif_transpose(source)
        image.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise InvalidMedia("the data is not an image this server can read") from None
    transparent = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    side = MAX_PREVIEW_SIDE
    while side >= 16:  # a 16-pixel preview is a few hundred bytes in any format: the loop ends early
        fitted = image.copy()
        fitted.thumbnail((side, side), Image.Resampling.LANCZOS)
        encoded = _encode(fitted, transparent)
        if encoded is not None:
            return encoded
        side = int(side * 0.7)
    raise InvalidMedia("no preview of this image fits the size limit")


def _encode(image: Image.Image, transparent: bool) -> tuple[bytes, str] | None:
    if transparent:
        rgba = image.convert("RGBA")
        for candidate in (rgba, rgba.quantize(256, method=Image.Quantize.FASTOCTREE)):
            out = _save(candidate, "PNG", optimize=True)
            if len(out) <= MAX_PREVIEW_BYTES:
                return out, "image/png"
        return None
    rgb = image.convert("RGB")
    for quality in _QUALITIES:
        out = _save(rgb, "JPEG", quality=quality, optimize=True, progressive=True)
        if len(out) <= MAX_PREVIEW_BYTES:
            return out, "image/jpeg"
    return None


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()
