"""The one storage interface every backend implements, and the link checks callers share.

Keys are ours (`keys.py`). `get` of a missing key raises `MediaNotFound`; `delete` of a missing key
does nothing, so deleting is safe to repeat. `url` returns a link anyone holding it may open until
it expires: the local backend signs it itself (`signing.py`), S3 presigns it.
"""

from __future__ import annotations

from typing import Protocol
from urllib.parse import urlsplit

MAX_URL_TTL_SECONDS = 7 * 24 * 3600
"""S3 refuses presigned URLs valid for longer than seven days; the local backend keeps the same bound."""


class Storage(Protocol):
    name: str
    """"local" or "s3": what the health line and the logs call it."""

    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes: ...

    async def delete(self, key: str) -> None: ...

    def url(self, key: str, *, expires_in: int) -> str: ...

    def origins(self) -> list[str]:
        """The origins (`scheme://host[:port]`) its links point at: what a page showing them must allow."""
        ...

    async def aclose(self) -> None: ...


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def check_expires_in(expires_in: int) -> int:
    if not 1 <= expires_in <= MAX_URL_TTL_SECONDS:
        raise ValueError(f"expires_in must be between 1 and {MAX_URL_TTL_SECONDS} seconds")
    return expires_in
