"""Previews fit in 200 KB whatever the image; what is not an image is refused with a code."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from smarthub_mcp.media.errors import InvalidMedia
from smarthub_mcp.media.thumbs import MAX_PREVIEW_BYTES, MAX_PREVIEW_SIDE, inspect_image, preview
from tests.media.helpers import image_bytes


def opened(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def test_a_large_noisy_image_gets_a_preview_under_the_cap():
    big = image_bytes(3000, 2000, noise=True)  # incompressible: about 18 MB as PNG
    assert len(big) > 10 * MAX_PREVIEW_BYTES
    small, content_type = preview(big, "image/png")
    assert content_type == "image/jpeg" and len(small) <= MAX_PREVIEW_BYTES
    shown = opened(small)
    assert shown.format == "JPEG" and max(shown.size) <= MAX_PREVIEW_SIDE
    assert abs(shown.width / shown.height - 1.5) < 0.02  # the aspect ratio is kept


def test_a_transparent_image_stays_png_and_under_the_cap():
    big = image_bytes(1500, 1500, noise=True, mode="RGBA")
    small, content_type = preview(big, "image/png")
    assert content_type == "image/png" and len(small) <= MAX_PREVIEW_BYTES
    assert opened(small).mode in ("RGBA", "P")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF"])
def test_small_images_of_every_kept_format(fmt):
    data = image_bytes(100, 80, fmt)
    small, _ = preview(data, "image/" + fmt.lower())
    assert opened(small).size == (100, 80)  # never enlarged
    facts = inspect_image(data)
    assert (facts.width, facts.height) == (100, 80) and facts.content_type.startswith("image/")


def test_the_bytes_decide_the_type_not_the_claim():
    assert inspect_image(image_bytes(fmt="JPEG")).content_type == "image/jpeg"


@pytest.mark.parametrize("data", [b"", b"not an image", image_bytes()[:40], b"<svg xmlns='http://www.w3.org/2000/svg'/>"])
def test_what_is_not_a_readable_image_is_invalid_media(data):
    with pytest.raises(InvalidMedia):
        preview(data, "image/png")
    with pytest.raises(InvalidMedia):
        inspect_image(data)


def test_a_decompression_bomb_is_refused_before_decoding():
    header_only = image_bytes(1, 1)
    # A PNG claiming 100000 x 100000 pixels: rewrite the IHDR size (and its CRC) of a real one.
    import struct
    import zlib

    ihdr = header_only[16:29]
    forged_ihdr = struct.pack(">II", 100_000, 100_000) + ihdr[8:]
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + forged_ihdr))
    bomb = header_only[:16] + forged_ihdr + crc + header_only[33:]
    with pytest.raises(InvalidMedia):
        inspect_image(bomb)
    with pytest.raises(InvalidMedia):
        preview(bomb, "image/png")


def test_videos_have_no_preview_here():
    with pytest.raises(InvalidMedia):
        preview(b"\x00\x00\x00\x18ftypmp42", "video/mp4")
