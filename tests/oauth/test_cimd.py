"""Client ID Metadata Documents: fetched under SSRF guards, size and time caps, cached, and used
only when the document names itself. Refusals are shown to the person, never redirected."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from smarthub_mcp.config import OAuthConfig
from smarthub_mcp.oauth.cimd import DocumentRefused, fetch_document
from tests.conftest import LiveServer
from tests.fakes import rebinding_dns
from tests.fakes.rebinding_dns import Listener
from tests.identity.helpers import app_client, client_from
from tests.oauth.helpers import REDIRECT, pkce

LOOPBACK = {"SMARTHUB_OAUTH__METADATA_DOCUMENTS_ALLOW_LOOPBACK": "true"}


class Documents:
    """A loopback http server of metadata documents; counts what it served."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self.url = ""
        self.broken = False  # nostore.json answers 404 from now on

    def document(self, path: str, **override: object) -> dict:
        return {"client_id": f"{self.url}{path}", "client_name": "Doc app", "redirect_uris": [REDIRECT],
                "token_endpoint_auth_method": "none", **override}

    def app(self) -> Starlette:
        async def serve(request):
            name = request.path_params["name"]
            self.hits[name] = self.hits.get(name, 0) + 1
            path = f"/{name}"
            if name == "good.json":
                return JSONResponse(self.document(path), headers={"Cache-Control": "max-age=600"})
            if name == "other-id.json":
                return JSONResponse(self.document(path, client_id=f"{self.url}/good.json"))
            if name == "huge.json":
                return JSONResponse(self.document(path, client_name="x" * 20_000))
            if name == "moved.json":
                return RedirectResponse(f"{self.url}/good.json", status_code=302)
            if name == "nostore.json":  # what static hosts often send: no caching at all
                if self.broken:
                    return Response(status_code=404)
                return JSONResponse(self.document(path), headers={"Cache-Control": "no-store"})
            if name == "secret.json":
                return JSONResponse(self.document(path, token_endpoint_auth_method="client_secret_post"))
            return Response(status_code=404)

        return Starlette(routes=[Route("/{name}", serve)])


@pytest.fixture
async def documents():
    docs = Documents()
    async with LiveServer(docs.app()) as server:
        docs.url = server.url
        yield docs


def authorize_url(client_id: str) -> str:
    _, challenge = pkce()
    return "/authorize?" + urlencode({"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT,
                                      "code_challenge": challenge, "code_challenge_method": "S256", "state": "s"})


async def test_a_document_naming_itself_is_used_and_cached(make_config, db, documents):
    async with app_client(make_config(**LOOPBACK)) as client:
        for _ in range(2):
            answer = await client.get(authorize_url(f"{documents.url}/good.json"))
            assert answer.status_code == 303 and "/oauth/consent?request=" in answer.headers["location"]
    assert documents.hits["good.json"] == 1  # the second request was served from the cache


@pytest.mark.parametrize(("name", "why"), [
    ("other-id.json", "client_id is not its own URL"),
    ("huge.json", "larger than"),
    ("moved.json", "HTTP 302"),
    ("secret.json", "public client"),
    ("missing.json", "HTTP 404"),
])
async def test_unusable_documents_are_refused_on_a_page(make_config, db, documents, name, why):
    async with app_client(make_config(**LOOPBACK)) as client:
        answer = await client.get(authorize_url(f"{documents.url}/{name}"))
    assert answer.status_code == 400 and "location" not in answer.headers
    assert why in answer.text and "oauth_invalid_request" in answer.text


@pytest.mark.parametrize("client_id", [
    "https://10.1.2.3/client.json",  # private
    "https://169.254.169.254/latest/meta-data",  # link-local: the cloud metadata service
    "https://127.0.0.1/client.json",  # loopback, without the test setting
    "https://localhost/client.json",  # a name that resolves to loopback
    "https://[::1]/client.json",
    "https://100.64.0.1/client.json",  # shared address space
])
async def test_documents_at_private_addresses_are_never_fetched(client, client_id):
    answer = await client.get(authorize_url(client_id))
    assert answer.status_code == 400 and "location" not in answer.headers
    assert "private or reserved address" in answer.text


@pytest.mark.parametrize(("client_id", "why"), [
    ("http://example.com/client.json", "over https"),
    ("https://user:pw@example.com/client.json", "credentials or a fragment"),
    ("https://example.com/", "a host and a path"),
])
async def test_malformed_document_urls_are_refused(client, client_id, why):
    answer = await client.get(authorize_url(client_id))
    assert answer.status_code == 400 and why in answer.text


async def test_a_document_is_refused_without_the_loopback_setting_even_when_it_names_itself(client, documents):
    answer = await client.get(authorize_url(f"{documents.url}/good.json"))
    assert answer.status_code == 400 and "over https" in answer.text
    assert documents.hits == {}


def test_a_document_whose_name_rebinds_to_loopback_after_the_check_is_never_asked_for():
    async def attempt() -> tuple[str, Listener]:
        async with Listener() as server:
            with pytest.raises(DocumentRefused) as refused:
                await fetch_document(f"https://{rebinding_dns.NAME}:{server.port}/client.json", OAuthConfig())
            await server.closed()
        return str(refused.value), server

    (why, server), loop = rebinding_dns.run(attempt)
    assert "private or reserved address" in why and loop.lookups == 2, "the check passed; the connection did not"
    assert server.connections == 1 and server.received == b"", "closed before the TLS hello"


async def test_fetches_are_counted_per_network_address_and_cached_documents_are_free(make_config, db, documents):
    config = make_config(**LOOPBACK, SMARTHUB_OAUTH__METADATA_DOCUMENT_FETCHES_PER_IP_PER_HOUR="2")
    async with app_client(config) as client:
        for _ in range(4):  # one fetch, then the cache: counted once
            assert (await client.get(authorize_url(f"{documents.url}/good.json"))).status_code == 303
        assert (await client.get(authorize_url(f"{documents.url}/missing.json"))).status_code == 400  # fetched
        refused = await client.get(authorize_url(f"{documents.url}/secret.json"))
        token = await client.post("/token", data={"grant_type": "authorization_code", "code": "x",
                                                  "client_id": f"{documents.url}/other-id.json"})
        async with client_from(client.app, "198.51.100.7") as elsewhere:  # another network: its own count
            other = await elsewhere.get(authorize_url(f"{documents.url}/secret.json"))
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert "Too many client metadata documents" in refused.text and "location" not in refused.headers
    assert token.status_code == 429 and int(token.headers["retry-after"]) > 0
    assert token.json()["error"] == "invalid_request"
    assert other.status_code == 400 and "public client" in other.text
    assert documents.hits == {"good.json": 1, "missing.json": 1, "secret.json": 1}, "refused before any fetch"


async def test_a_document_seen_before_is_refetched_for_free_and_pages_after_authorize_fetch_nothing(
        make_config, db, documents):
    config = make_config(**LOOPBACK, SMARTHUB_OAUTH__METADATA_DOCUMENT_FETCHES_PER_IP_PER_HOUR="1")
    url = f"{documents.url}/nostore.json"
    async with app_client(config) as client:
        # Cached for 0 s: every authorization fetches it again, but only the first one counts.
        started = [await client.get(authorize_url(url)) for _ in range(3)]
        assert [a.status_code for a in started] == [303, 303, 303] and documents.hits == {"nostore.json": 3}
        consent = started[-1].headers["location"]
        pages = [await client.get(consent) for _ in range(3)]
        documents.broken = True  # the page keeps the document the request was checked with
        pages.append(await client.get(consent))
    assert all(p.status_code < 400 for p in pages), [p.status_code for p in pages]
    assert "An app wants to connect" in pages[-1].text
    assert documents.hits == {"nostore.json": 3}, "the pages fetched nothing"
