"""Where the server may connect on a user's say-so: only to public addresses.

A URL a user gives us (a job webhook, an OAuth client's metadata document) must not make the server
talk to its own network: loopback, private, link-local, shared, reserved and multicast ranges are
refused, IPv6 addresses that carry an IPv4 one (mapped, 6to4, NAT64) are judged as that IPv4
address, and a host is allowed only when every address it resolves to is. Callers turn a refusal
into their own error.

Two checks, for two reasons. `resolves_publicly` runs before a request: a clear answer ("does not
resolve", "private") and no connection at all to a private host. It cannot stop a name that
resolves to a public address for the check and to a private one for the connection made a moment
later (DNS rebinding), so `connect_guard` checks the address each new connection actually reached,
before TLS and before a byte of the request is sent (an httpx/httpx2 `trace` extension: httpcore
reports every TCP connection it makes). Connections it guards must not go through a proxy: the
address reached would be the proxy's (the clients that use it are built with `trust_env=False`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from typing import Any

Trace = Callable[[str, dict[str, Any]], Awaitable[None]]


class AddressRefused(Exception):
    """A connection reached an address that is not public; it was closed before anything was sent."""


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # the well-known prefix: an IPv4 address in the last 32 bits
_NEVER_PUBLIC_V6 = (
    ipaddress.IPv6Network("64:ff9b:1::/48"),  # local-use NAT64 (RFC 8215): some network's own translator
    ipaddress.IPv6Network("::/96"),  # IPv4-compatible addresses: deprecated, nothing public uses them
)


def public_address(address: str, *, allow_loopback: bool = False) -> bool:
    """Whether a connection to `address` (an IP, maybe with an IPv6 zone) leaves this network. An
    IPv6 address that carries an IPv4 one (mapped, 6to4, NAT64) is judged as the IPv4 address: a
    translator on the way would deliver it there."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        carried = ip.ipv4_mapped or ip.sixtofour
        if carried is None and ip in _NAT64:
            carried = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if carried is not None:
            ip = carried
    if ip.is_loopback:
        return allow_loopback
    if isinstance(ip, ipaddress.IPv6Address) and any(ip in net for net in _NEVER_PUBLIC_V6):
        return False
    return ip.is_global and not ip.is_multicast


async def resolves_publicly(host: str, port: int, *, allow_loopback: bool = False) -> bool:
    """Whether `host` resolves to public addresses only; OSError when it does not resolve at all
    (callers bound the wait with `asyncio.timeout`)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = {str(info[4][0]) for info in infos}
    return bool(addresses) and all(public_address(a, allow_loopback=allow_loopback) for a in addresses)


def connect_guard(*, allow_loopback: bool = False) -> dict[str, Trace]:
    """Request extensions that refuse, with AddressRefused, any new connection whose peer address
    is not public. A pooled connection is not checked again: it was when it was made."""
    return {"trace": _GUARDS[allow_loopback]}


def _guard(allow_loopback: bool) -> Trace:
    async def trace(event: str, info: dict[str, Any]) -> None:
        if event != "connection.connect_tcp.complete":
            return
        stream = info["return_value"]
        peer = stream.get_extra_info("server_addr")
        if peer is None or not public_address(str(peer[0]), allow_loopback=allow_loopback):
            await stream.aclose()  # fail closed: an unknown peer is refused too
            raise AddressRefused("the connection reached a private or reserved address")
    return trace


_GUARDS = {False: _guard(False), True: _guard(True)}
