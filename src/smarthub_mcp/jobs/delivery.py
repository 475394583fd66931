"""Delivery: every output copied into our storage before a job counts it as delivered.

Provider links expire (fal keeps files about a week, OpenAI's an hour), so a job never hands out a
provider's URL: it fetches the bytes (bounded in size and time, a few tries) and stores them with
their preview. A link, and every redirect it leads to, must point at public addresses (netguard):
a provider's answer must not make this server fetch from its own network and hand the bytes to a
user (`[jobs] fetch_allow_private` lifts that for tests and providers on a private network). Each
link's host is checked before the request, and each connection made is checked again for the
address it reached (a name that resolves differently the second time, DNS rebinding).

Media ids come from the job id and the output's index, so storing the same output twice (a retried
step, a webhook racing a poll) writes the same objects and the same row.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from smarthub_mcp.media.errors import InvalidMedia
from smarthub_mcp.media.library import MediaMeta, StoredOutput, store_output
from smarthub_mcp.media.storage import Storage
from smarthub_mcp.netguard import AddressRefused, connect_guard, resolves_publicly
from smarthub_mcp.providers.media import MediaOutput
from smarthub_mcp.tls import client_tls

log = logging.getLogger("smarthub.jobs")

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
FETCH_TRIES = 3
MAX_REDIRECTS = 5
RESOLVE_TIMEOUT_S = 5.0


class OutputLost(Exception):
    """An output whose bytes could not be fetched: not delivered, not charged."""


def media_id_for(job_id: str, index: int) -> str:
    """`med_` + the job's time part (media sort with their job) + the index (then by output order)
    + 15 chars from a hash of (job, index). Outputs per job are far fewer than 32."""
    digest = int.from_bytes(hashlib.sha256(f"{job_id}:{index}".encode()).digest()[:10], "big")
    tail = "".join(_ALPHABET[(digest >> (5 * i)) & 31] for i in range(15))
    return f"med_{job_id[4:14]}{_ALPHABET[index % 32]}{tail}"


class Downloads:
    """A job engine's HTTP client for outputs, built when first needed. It follows no redirect by
    itself (each hop is checked first) and takes no proxy from the environment (the address each
    connection reaches is checked: through a proxy it would be the proxy's)."""

    def __init__(self) -> None:
        self._http: httpx.AsyncClient | None = None

    def client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0), follow_redirects=False,
                                           trust_env=False, verify=client_tls())
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None


@dataclass(frozen=True, slots=True)
class Delivered:
    stored: tuple[StoredOutput, ...]
    lost: int


async def fetch(client: httpx.AsyncClient, url: str, max_bytes: int, *, allow_private: bool = False) -> bytes:
    """The bytes at `url`, at most `max_bytes`, in a few tries; OutputLost when they cannot be had.
    `client` must not follow redirects itself: each hop is checked here before it is fetched."""
    for attempt in range(FETCH_TRIES):
        try:
            return await _follow(client, url, max_bytes, allow_private)
        except AddressRefused:
            raise OutputLost("the link points at a private or reserved address") from None
        except httpx.HTTPError as exc:
            if attempt == FETCH_TRIES - 1:
                raise OutputLost(type(exc).__name__) from None
            await asyncio.sleep(0.5 * (attempt + 1))
    raise OutputLost("no answer")  # pragma: no cover - the loop returns or raises


async def _follow(client: httpx.AsyncClient, url: str, max_bytes: int, allow_private: bool) -> bytes:
    guard = None if allow_private else connect_guard()
    for _ in range(MAX_REDIRECTS + 1):
        await _check_link(url, allow_private)
        async with client.stream("GET", url, extensions=guard) as response:
            if response.next_request is not None:  # a redirect: its target is checked like the link
                url = str(response.next_request.url)
                continue
            if response.status_code != 200:
                raise OutputLost(f"HTTP {response.status_code}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body.extend(chunk)
                if len(body) > max_bytes:
                    raise OutputLost(f"larger than {max_bytes} bytes")
            return bytes(body)
    raise OutputLost(f"more than {MAX_REDIRECTS} redirects")


async def _check_link(url: str, allow_private: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise OutputLost("not an http(s) link")
    if allow_private:
        return
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_S):
            public = await resolves_publicly(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except (OSError, TimeoutError):
        raise OutputLost("the link's host does not resolve") from None
    except ValueError:  # not a host name or address at all
        raise OutputLost("not an http(s) link") from None
    if not public:
        raise OutputLost("the link points at a private or reserved address")


async def deliver(storage: Storage, client: httpx.AsyncClient, *, job_id: str, owner_id: str,
                  outputs: tuple[MediaOutput, ...], meta: MediaMeta, max_bytes: int, first_index: int = 0,
                  allow_private: bool = False) -> Delivered:
    """Store every output that can be had; count the ones that cannot (they are not charged).
    `first_index` numbers the outputs after others of the same job (held ones follow the delivered)."""
    stored: list[StoredOutput] = []
    lost = 0
    for index, output in enumerate(outputs, start=first_index):
        try:
            data = output.data if output.data is not None else await fetch(
                client, output.url or "", max_bytes, allow_private=allow_private)
        except OutputLost as exc:
            log.warning("job %s: output %d could not be fetched (%s); not delivered, not charged",
                        job_id, index, exc)
            lost += 1
            continue
        item_meta = MediaMeta(prompt=meta.prompt, model=meta.model, provider=meta.provider, job_id=job_id,
                              width=output.width, height=output.height, media_id=media_id_for(job_id, index))
        try:
            stored.append(await store_output(storage, owner_id, data, output.content_type, item_meta))
        except InvalidMedia:
            log.warning("job %s: output %d is not a readable %s; not delivered, not charged",
                        job_id, index, output.content_type)
            lost += 1
    return Delivered(tuple(stored), lost)
