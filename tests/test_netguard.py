"""The one guard on where a user's URL may make the server connect (job webhooks, OAuth client
metadata documents, provider output links): public addresses only, checked before the request
and again at each connection (a name that rebinds in between)."""

from __future__ import annotations

import httpx
import httpx2
import pytest

from smarthub_mcp.netguard import AddressRefused, connect_guard, public_address, resolves_publicly
from tests.fakes import rebinding_dns
from tests.fakes.rebinding_dns import Listener


def test_private_reserved_and_multicast_addresses_are_refused():
    for private in ("10.0.0.1", "192.168.1.1", "172.16.0.1", "169.254.1.1", "100.64.0.1", "fe80::1", "fc00::1",
                    "::ffff:10.0.0.1", "0.0.0.0", "224.0.0.1", "ff02::1", "fe80::1%eth0"):
        assert not public_address(private) and not public_address(private, allow_loopback=True), private
    assert not public_address("127.0.0.1") and public_address("127.0.0.1", allow_loopback=True)
    assert not public_address("::1") and public_address("::ffff:127.0.0.1", allow_loopback=True)
    assert public_address("93.184.215.14") and public_address("2606:2800:21f:cb07:6820:80da:af6b:8b2c")


def test_ipv6_forms_that_carry_a_private_ipv4_address_are_refused():
    # 6to4 and NAT64 carry an IPv4 address a translator on the way would deliver to; the local-use
    # NAT64 prefix and the deprecated IPv4-compatible form are never a public host.
    for private in ("2002:a00:1::", "2002:7f00:1::", "64:ff9b::a00:1", "64:ff9b::a9fe:a9fe", "64:ff9b:1::5db8:d70e",
                    "::a00:1", "::5db8:d70e"):
        assert not public_address(private), private
    assert public_address("2002:5db8:d70e::") and public_address("64:ff9b::5db8:d70e")  # a public IPv4 inside


async def test_a_host_is_public_only_when_every_address_is():
    assert not await resolves_publicly("localhost", 443)
    assert await resolves_publicly("127.0.0.1", 443, allow_loopback=True)
    with pytest.raises(OSError):
        await resolves_publicly("no-such-host.invalid", 443)


@pytest.mark.parametrize("lib", [httpx, httpx2], ids=["httpx", "httpx2"])
@pytest.mark.parametrize("url", ["http://localhost:{port}/", "https://127.0.0.1:{port}/"])
async def test_a_connection_reaching_loopback_is_closed_before_a_byte_is_sent(lib, url):
    async with Listener() as server, lib.AsyncClient(trust_env=False) as client:
        with pytest.raises(AddressRefused):
            await client.get(url.format(port=server.port), extensions=connect_guard())
        await server.closed()
    assert server.connections == 1 and server.received == b"", "no request bytes, no TLS hello"


@pytest.mark.parametrize("lib", [httpx, httpx2], ids=["httpx", "httpx2"])
async def test_loopback_is_reached_when_allowed(lib):
    async with Listener(b"fine") as server, lib.AsyncClient(trust_env=False) as client:
        answer = await client.get(f"http://localhost:{server.port}/doc", extensions=connect_guard(allow_loopback=True))
    assert answer.status_code == 200 and answer.content == b"fine"
    assert server.received.startswith(b"GET /doc HTTP/1.1")


def test_a_name_that_rebinds_after_the_check_is_refused_at_the_connection():
    async def attempt(guarded: bool) -> tuple[bool, bytes, bool]:
        async with Listener() as server, httpx.AsyncClient(trust_env=False) as client:
            checked = await resolves_publicly(rebinding_dns.NAME, server.port)
            try:
                await client.get(f"http://{rebinding_dns.NAME}:{server.port}/",
                                 extensions=connect_guard() if guarded else None)
            except AddressRefused:
                refused = True
            else:
                refused = False
            if server.connections:
                await server.closed()
            return checked, bytes(server.received), refused

    # Unguarded, the fake name server does what an attacker's does: the check passes, the request
    # lands on loopback. Guarded, the same connection is closed before anything is sent.
    (checked, received, refused), loop = rebinding_dns.run(lambda: attempt(guarded=False))
    assert checked and received.startswith(b"GET / HTTP/1.1") and not refused and loop.lookups == 2
    (checked, received, refused), loop = rebinding_dns.run(lambda: attempt(guarded=True))
    assert checked and received == b"" and refused and loop.lookups == 2
