"""Object keys and content types: what may be stored, under which name, served as what.

Keys are made by us (`owner/media_id.ext`), never taken from a caller, and checked again wherever
one arrives from outside (a download link): segments of letters, digits, `.`, `_` and `-` that start
with a letter or digit, so `..`, an absolute path, a backslash or a NUL can never name a file
outside the store.
"""

from __future__ import annotations

import re

from smarthub_mcp.media.errors import InvalidMedia, MediaNotFound

MAX_KEY_LENGTH = 512
_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}(/[A-Za-z0-9][A-Za-z0-9._-]{0,127}){0,7}$")

EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "image/gif": "gif",
    "video/mp4": "mp4",
    "video/webm": "webm",
    "video/quicktime": "mov",
}
"""The types the library keeps (no SVG or HTML: served from our origin they could run script)."""
CONTENT_TYPES = {ext: content_type for content_type, ext in EXTENSIONS.items()}


def is_valid_key(key: str) -> bool:
    return len(key) <= MAX_KEY_LENGTH and _KEY_RE.match(key) is not None and ".." not in key


def check_key(key: str) -> str:
    """`key` when it is a key we could have made; MediaNotFound otherwise (it names nothing)."""
    if not is_valid_key(key):
        raise MediaNotFound("no such media")
    return key


def extension_for(content_type: str) -> str:
    ext = EXTENSIONS.get(content_type.split(";")[0].strip().lower())
    if ext is None:
        raise InvalidMedia(f"content type {content_type[:80]!r} is not kept", details={"allowed": sorted(EXTENSIONS)})
    return ext


def content_type_for(key: str) -> str:
    """The type a key is served as, from its extension (the keys are ours, so the extension is too)."""
    return CONTENT_TYPES.get(key.rsplit(".", 1)[-1].lower(), "application/octet-stream")


def kind_of(content_type: str) -> str:
    return "video" if content_type.startswith("video/") else "image"
