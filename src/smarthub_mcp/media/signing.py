"""Signed, expiring download links for the local backend: the same contract as an S3 presigned URL.

A link is `/media/<key>?exp=<epoch seconds>&sig=<HMAC-SHA256>`; the HMAC covers the method, the key
and the expiry, joined by newlines (which neither a key nor a number can hold), so changing any of
them, or moving a signature to another key, fails the check. Signatures are compared in constant
time. The signing key is derived from the configured secret for this one purpose, so a link's
signature can never be replayed as anything else (a JWT, another service's MAC).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
from collections.abc import Callable

_PURPOSE = b"smarthub media links v1"
SIGNATURE_CHARS = 43  # base64url of 32 bytes, unpadded


class UrlSigner:
    """Signs and checks `(method, key, exp)`; the secret is read on first use (the CLI never needs it)."""

    def __init__(self, secret: Callable[[], bytes]) -> None:
        self._secret = secret

    @functools.cached_property
    def _key(self) -> bytes:
        return hmac.new(self._secret(), _PURPOSE, hashlib.sha256).digest()

    def signature(self, method: str, key: str, exp: int) -> str:
        message = f"{method}\n{key}\n{exp}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def verify(self, method: str, key: str, exp: int, signature: str) -> bool:
        expected = self.signature(method, key, exp)
        # compare_digest on bytes: on str it refuses non-ASCII input with a TypeError (a 500).
        return hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", "surrogatepass"))
