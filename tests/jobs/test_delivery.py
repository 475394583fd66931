"""Fetching a provider's output link: only public addresses, each redirect checked before it is
followed and each connection checked for the address it reached, bounded in hops; a refused link is
an output lost (not delivered, not charged)."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from smarthub_mcp.jobs.delivery import MAX_REDIRECTS, OutputLost, fetch
from tests.conftest import LiveServer
from tests.fakes import rebinding_dns
from tests.fakes.rebinding_dns import Listener

PRIVATE = [
    "http://127.0.0.1:9/out.png",
    "http://localhost:9/out.png",
    "http://10.0.0.7/out.png",
    "http://192.168.1.1/out.png",
    "http://169.254.169.254/latest/meta-data/",  # a cloud's metadata service
    "http://[::1]/out.png",
    "http://[::ffff:127.0.0.1]/out.png",
    "http://100.64.0.1/out.png",
]


@pytest.fixture
async def site():
    hits: list[str] = []

    async def handle(request: Request) -> Response:
        hits.append(request.url.path)
        hop = int(request.query_params.get("hop", "0"))
        match request.path_params["kind"]:
            case "file":
                return Response(b"PNG-BYTES", media_type="image/png")
            case "chain":  # `hops` redirects, then the file
                left = int(request.query_params["hops"]) - hop
                target = f"/chain?hops={request.query_params['hops']}&hop={hop + 1}" if left > 0 else "/file"
                return RedirectResponse(target, status_code=302)
            case "to-file-scheme":
                return RedirectResponse("file:///etc/passwd", status_code=302)
        return Response(status_code=404)

    app = Starlette(routes=[Route("/{kind}", handle)])
    async with LiveServer(app) as server, httpx.AsyncClient(follow_redirects=False) as client:
        yield server.url, client, hits


@pytest.mark.parametrize("url", PRIVATE)
async def test_a_link_to_a_private_address_is_refused_before_any_request(url):
    async with httpx.AsyncClient(follow_redirects=False) as client:
        with pytest.raises(OutputLost, match="private or reserved"):
            await fetch(client, url, 1000)


async def test_the_loopback_fake_is_refused_unless_private_links_are_allowed(site):
    url, client, hits = site
    with pytest.raises(OutputLost, match="private or reserved"):
        await fetch(client, f"{url}/file", 1000)
    assert hits == []
    assert await fetch(client, f"{url}/file", 1000, allow_private=True) == b"PNG-BYTES"


async def test_redirects_are_followed_hop_by_hop_and_bounded(site):
    url, client, hits = site
    assert await fetch(client, f"{url}/chain?hops={MAX_REDIRECTS - 1}", 1000, allow_private=True) == b"PNG-BYTES"
    hits.clear()
    with pytest.raises(OutputLost, match="redirects"):
        await fetch(client, f"{url}/chain?hops={MAX_REDIRECTS + 3}", 1000, allow_private=True)
    assert len(hits) == MAX_REDIRECTS + 1, "it stopped at the bound"


async def test_each_redirect_target_is_checked_like_the_link(site):
    url, client, _ = site
    with pytest.raises(OutputLost, match="not an http"):
        await fetch(client, f"{url}/to-file-scheme", 1000, allow_private=True)


@pytest.mark.parametrize("url", ["ftp://example.com/x.png", "file:///etc/passwd", "not a url", "http:///x.png"])
async def test_only_http_links_with_a_host_are_fetched(url):
    async with httpx.AsyncClient(follow_redirects=False) as client:
        with pytest.raises(OutputLost, match="not an http"):
            await fetch(client, url, 1000)


async def test_a_host_that_does_not_resolve_is_lost():
    async with httpx.AsyncClient(follow_redirects=False) as client:
        with pytest.raises(OutputLost, match="does not resolve"):
            await fetch(client, "https://no-such-host.invalid/x.png", 1000)


def test_a_link_whose_name_rebinds_to_loopback_after_the_check_is_lost_unfetched():
    async def attempt() -> tuple[str, Listener]:
        async with Listener(b"SECRET") as server, httpx.AsyncClient(follow_redirects=False, trust_env=False) as client:
            with pytest.raises(OutputLost) as lost:
                await fetch(client, f"http://{rebinding_dns.NAME}:{server.port}/out.png", 1000)
            await server.closed()
        return str(lost.value), server

    (why, server), loop = rebinding_dns.run(attempt)
    assert "private or reserved" in why, "refused at once, not retried as a network error"
    assert loop.lookups == 2, "the link's check passed; its connection did not"
    assert server.connections == 1 and server.received == b""
