"""The whole connector flow, run by the MCP SDK's own OAuth client (`mcp.client.auth`) against our
server under uvicorn, with headless Chromium signing in and consenting: discovery, authorization,
token, a metered tool call, refresh and revocation. Once with a Client ID Metadata Document served
over https on loopback (what Claude and ChatGPT prefer), once with Dynamic Client Registration."""

from __future__ import annotations

import httpx2
import pytest
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientMetadata, OAuthToken
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.conftest import LiveServer, free_port
from tests.oauth.browser import browser_page
from tests.oauth.flow import MemoryStorage, Person, smarthub
from tests.oauth.helpers import make_person
from tests.oauth.tls import make_loopback_tls

REDIRECT = "http://127.0.0.1:9/callback"


def client_metadata() -> OAuthClientMetadata:
    return OAuthClientMetadata(redirect_uris=[REDIRECT], client_name="SDK test client",  # type: ignore[list-item]
                               grant_types=["authorization_code", "refresh_token"], response_types=["code"],
                               token_endpoint_auth_method="none")


async def run_flow(services, server, email: str, user_id: str, *, document_url: str | None, shots: str | None):
    storage = MemoryStorage()
    async with browser_page() as page:
        person = Person(page, email, REDIRECT, shots)
        provider = OAuthClientProvider(f"{server.url}/mcp", client_metadata(), storage, person.redirect_handler,
                                       person.callback_handler, client_metadata_url=document_url)
        before = (await services.ledger.balance(user_id)).balance
        async with (httpx2.AsyncClient(auth=provider, timeout=60) as http,
                    Client(streamable_http_client(f"{server.url}/mcp", http_client=http), mode="legacy") as mcp):
            answer = await mcp.call_tool("chat", {"prompt": "Hello over OAuth", "max_tokens": 16})
            assert not answer.is_error, answer
        assert (await services.ledger.balance(user_id)).balance < before  # metered, to this user
    assert person.pages_seen == ["sign-in", "consent"]
    assert storage.tokens is not None and storage.tokens.refresh_token and storage.client is not None
    return storage, person


async def refresh_then_revoke(services, server, storage: MemoryStorage) -> None:
    """A client that kept only its refresh token: the SDK refreshes (no browser), then the grant is revoked."""
    assert storage.tokens is not None and storage.client is not None
    kept = OAuthToken(access_token="", refresh_token=storage.tokens.refresh_token, token_type="Bearer")
    later = MemoryStorage(kept, storage.client)

    async def no_browser(url: str) -> None:
        raise AssertionError(f"a refresh must not send the person to {url}")

    provider = OAuthClientProvider(f"{server.url}/mcp", client_metadata(), later, no_browser, None)
    async with (httpx2.AsyncClient(auth=provider, timeout=60) as http,
                Client(streamable_http_client(f"{server.url}/mcp", http_client=http), mode="legacy") as mcp):
        balance = await mcp.call_tool("get_balance", {})
        assert not balance.is_error
    assert later.tokens is not None and later.tokens.refresh_token != storage.tokens.refresh_token
    async with httpx2.AsyncClient(timeout=30) as http:
        revoked = await http.post(f"{server.url}/revoke", data={"client_id": storage.client.client_id,
                                                                 "token": later.tokens.refresh_token})
        assert revoked.status_code == 200
        after = await http.post(f"{server.url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                                headers={"Authorization": f"Bearer {later.tokens.access_token}",
                                         "Accept": "application/json, text/event-stream"})
        assert after.status_code == 401


@pytest.fixture
async def document_server(tmp_path):
    """A client metadata document over https on loopback, as `(url, ca_file)`."""
    ca, cert, key = make_loopback_tls(tmp_path)
    port = free_port()
    url = f"https://127.0.0.1:{port}/oauth/client.json"
    document = {"client_id": url, "client_name": "Loopback CIMD client", "redirect_uris": [REDIRECT],
                "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
                "token_endpoint_auth_method": "none"}

    async def serve(request):
        return JSONResponse(document, headers={"Cache-Control": "max-age=60"})

    app = Starlette(routes=[Route("/oauth/client.json", serve)])
    async with LiveServer(app, port=port, ssl_certfile=str(cert), ssl_keyfile=str(key)):
        yield url, ca


async def test_the_sdk_client_connects_with_a_client_metadata_document(make_config, db, document_server):
    url, ca = document_server
    async with smarthub(make_config, SMARTHUB_OAUTH__METADATA_DOCUMENTS_ALLOW_LOOPBACK="true",
                        SMARTHUB_OAUTH__METADATA_DOCUMENTS_CA_FILE=str(ca)) as (services, server):
        user_id, email = await make_person(services)
        storage, person = await run_flow(services, server, email, user_id, document_url=url, shots="oauth-cimd")
        assert storage.client is not None and storage.client.client_id == url  # no registration happened
        assert "127.0.0.1" in person.consent_text and "Loopback CIMD client" in person.consent_text
        assert "credits" in person.consent_text  # the balance is shown
        await refresh_then_revoke(services, server, storage)


async def test_the_sdk_client_connects_with_dynamic_registration(make_config, db):
    async with smarthub(make_config) as (services, server):
        user_id, email = await make_person(services)
        storage, _ = await run_flow(services, server, email, user_id, document_url=None, shots=None)
        assert storage.client is not None and not storage.client.client_id.startswith("https://")
        await refresh_then_revoke(services, server, storage)
