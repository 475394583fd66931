"""The one guard on where a user's URL may make the server connect (job webhooks, OAuth client
metadata documents): public addresses only."""

from __future__ import annotations

import pytest

from smarthub_mcp.netguard import public_address, resolves_publicly


def test_private_reserved_and_multicast_addresses_are_refused():
    for private in ("10.0.0.1", "192.168.1.1", "172.16.0.1", "169.254.1.1", "100.64.0.1", "fe80::1", "fc00::1",
                    "::ffff:10.0.0.1", "0.0.0.0", "224.0.0.1", "ff02::1", "fe80::1%eth0"):
        assert not public_address(private) and not public_address(private, allow_loopback=True), private
    assert not public_address("127.0.0.1") and public_address("127.0.0.1", allow_loopback=True)
    assert not public_address("::1") and public_address("::ffff:127.0.0.1", allow_loopback=True)
    assert public_address("93.184.215.14") and public_address("2606:2800:21f:cb07:6820:80da:af6b:8b2c")


async def test_a_host_is_public_only_when_every_address_is():
    assert not await resolves_publicly("localhost", 443)
    assert await resolves_publicly("127.0.0.1", 443, allow_loopback=True)
    with pytest.raises(OSError):
        await resolves_publicly("no-such-host.invalid", 443)
