"""Password hashing: argon2id through argon2-cffi, with OWASP's current parameters.

OWASP's Password Storage Cheat Sheet (2024/2025) recommends argon2id with at least 19 MiB of
memory, 2 iterations and 1 degree of parallelism. Hashes carry their parameters, so when these
change, `needs_rehash` says so and the next successful login stores a fresh hash.

Hashing costs tens of milliseconds of CPU; it runs in a worker thread so the event loop keeps
serving other requests meanwhile.
"""

from __future__ import annotations

import unicodedata

import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from smarthub_mcp.identity.errors import WeakPassword

HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16)
MAX_PASSWORD_CHARS = 1024  # argon2 takes any length; a bound keeps request bodies honest

# Verified against when the email is unknown, so a miss costs what a wrong password costs.
_DUMMY_HASH = HASHER.hash("smarthub-dummy-password")


def normalize_password(password: str) -> str:
    """NFKC, as NIST SP 800-63B suggests, so the same password typed on two keyboards matches."""
    return unicodedata.normalize("NFKC", password)


def check_policy(password: str, min_length: int) -> str:
    """Return the normalized password, or raise WeakPassword."""
    normalized = normalize_password(password)
    if len(normalized) < min_length:
        raise WeakPassword(
            f"the password must be at least {min_length} characters",
            details={"field": "password", "min_length": min_length},
        )
    if len(normalized) > MAX_PASSWORD_CHARS:
        raise WeakPassword(
            f"the password must be at most {MAX_PASSWORD_CHARS} characters",
            details={"field": "password", "max_length": MAX_PASSWORD_CHARS},
        )
    if "\x00" in normalized:
        raise WeakPassword("the password contains a NUL character", details={"field": "password"})
    return normalized


async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(HASHER.hash, normalize_password(password))


def _verify(stored: str | None, password: str) -> bool:
    try:
        return HASHER.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(stored: str | None, password: str) -> bool:
    """True when `password` matches `stored`; a None hash still costs one verification."""
    return await anyio.to_thread.run_sync(_verify, stored, normalize_password(password))


def needs_rehash(stored: str) -> bool:
    try:
        return HASHER.check_needs_rehash(stored)
    except InvalidHashError:
        return True
