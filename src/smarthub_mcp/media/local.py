"""The local-directory backend (the default): files under one root, served by the app itself
through signed, expiring links (`GET /media/<key>?exp=&sig=`, `api/media_files.py`).

Writes go to a temporary file in the same directory and are renamed into place, so a reader never
sees half an object. Every path is resolved and checked to lie under the root, after the key has
passed `keys.check_key`: a key cannot climb out, and neither can a symlink planted in the tree.
File I/O runs in a worker thread; the event loop never waits on the disk.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import anyio.to_thread

from smarthub_mcp.media.errors import MediaLinkExpired, MediaLinkInvalid, MediaNotFound, StorageUnavailable
from smarthub_mcp.media.keys import check_key
from smarthub_mcp.media.signing import SIGNATURE_CHARS, UrlSigner
from smarthub_mcp.media.storage import check_expires_in, origin_of

log = logging.getLogger("smarthub.media")

Clock = Callable[[], float]
MAX_EXP = 10**11  # an expiry beyond year 5000 is not one we made
_MISSING = (FileNotFoundError, IsADirectoryError, NotADirectoryError)


class LocalStorage:
    name = "local"

    def __init__(self, directory: str | os.PathLike[str], *, signer: UrlSigner, public_base_url: str,
                 clock: Clock = time.time) -> None:
        self.root = Path(directory).resolve()
        self.signer = signer
        self.public_base_url = public_base_url.rstrip("/")
        self.clock = clock

    def path_of(self, key: str) -> Path:
        """Where `key` lives; MediaNotFound for a key that is not ours or would leave the root."""
        path = (self.root / check_key(key)).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise MediaNotFound("no such media")
        return path

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self.path_of(key)
        with _disk_errors("put"):
            await anyio.to_thread.run_sync(_write_atomically, path, data)

    async def get(self, key: str) -> bytes:
        path = self.path_of(key)
        try:
            with _disk_errors("get"):
                return await anyio.to_thread.run_sync(path.read_bytes)
        except _MISSING:
            raise MediaNotFound("no such media") from None

    async def delete(self, key: str) -> None:
        path = self.path_of(key)

        def remove() -> None:
            with contextlib.suppress(*_MISSING):
                path.unlink()

        with _disk_errors("delete"):
            await anyio.to_thread.run_sync(remove)

    def url(self, key: str, *, expires_in: int) -> str:
        check_key(key)
        exp = int(self.clock()) + check_expires_in(expires_in)
        sig = self.signer.signature("GET", key, exp)
        return f"{self.public_base_url}/media/{quote(key)}?exp={exp}&sig={sig}"

    def origins(self) -> list[str]:
        return [origin_of(self.public_base_url)]

    def check_link(self, key: str, exp: str | None, sig: str | None, method: str = "GET") -> int:
        """Check a link's signature, then its expiry; return the seconds it has left.

        A bad or missing signature is `media_link_invalid` whatever else is wrong, so a caller
        learns nothing about which keys exist; only a genuine link can be `media_link_expired`."""
        if (
            not exp or not sig or len(sig) != SIGNATURE_CHARS
            or not (exp.isascii() and exp.isdigit()) or exp.startswith("0") or len(exp) > len(str(MAX_EXP))
            or not self.signer.verify(method, key, int(exp), sig)
        ):
            raise MediaLinkInvalid("this media link is not valid")
        left = int(exp) - int(self.clock())
        if left <= 0:
            raise MediaLinkExpired("this media link has expired; ask for a new one")
        return left

    async def aclose(self) -> None:
        return None


@contextlib.contextmanager
def _disk_errors(operation: str) -> Iterator[None]:
    """A full disk or a permission problem is the store being unavailable, not a crash; on a read or
    a delete, a missing file passes through for the caller to name."""
    try:
        yield
    except _MISSING:
        if operation == "put":
            raise StorageUnavailable("the media store cannot be written; try again later") from None
        raise
    except OSError as exc:
        log.warning("media directory %s failed: %s", operation, exc.strerror or type(exc).__name__)
        raise StorageUnavailable("the media store cannot be written or read; try again later") from None


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
