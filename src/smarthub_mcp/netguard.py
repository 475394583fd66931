"""Where the server may connect on a user's say-so: only to public addresses.

A URL a user gives us (a job webhook, an OAuth client's metadata document) must not make the server
talk to its own network: loopback, private, link-local, shared, reserved and multicast ranges are
refused, IPv4-mapped IPv6 addresses judged as the IPv4 address they carry, and a host is allowed
only when every address it resolves to is. Callers turn a refusal into their own error.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket


def public_address(address: str, *, allow_loopback: bool = False) -> bool:
    """Whether a connection to `address` (an IP, maybe with an IPv6 zone) leaves this network."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return allow_loopback
    return ip.is_global and not ip.is_multicast


async def resolves_publicly(host: str, port: int, *, allow_loopback: bool = False) -> bool:
    """Whether `host` resolves to public addresses only; OSError when it does not resolve at all
    (callers bound the wait with `asyncio.timeout`)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = {str(info[4][0]) for info in infos}
    return bool(addresses) and all(public_address(a, allow_loopback=allow_loopback) for a in addresses)
