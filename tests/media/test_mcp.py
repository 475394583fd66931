"""The media tools and `media://` resources through the SDK's own client: in memory as the owner of
an API key, and over real HTTP with a token. Another user's media id is not found everywhere."""

from __future__ import annotations

import base64

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from smarthub_mcp.media import library
from smarthub_mcp.media.library import MediaMeta
from smarthub_mcp.tools.media_resources import PREVIEW_META, RESOURCE_MAX_BYTES
from smarthub_mcp.tools.server import build_mcp_server
from tests.factories import bearer, make_api_key, make_user_with_token
from tests.media.helpers import image_bytes
from tests.tools.results import error_of

META = MediaMeta(prompt="a red fox", model="demo-image", provider="demo", cost=40_000, job_id="job_x")
MEDIA_TOOLS = {"list_media", "get_media", "delete_media"}


async def server_for(services, role: str = "user") -> tuple[str, object]:
    """A user and an in-memory server acting as the owner of one of their API keys."""
    user_id, _ = await make_user_with_token(services, role=role)
    return user_id, build_mcp_server(services, api_key=await make_api_key(services, user_id))


async def test_tools_list_show_and_delete_for_the_owner_only(services):
    alice, alice_server = await server_for(services)
    _, bob_server = await server_for(services)
    item = await library.save_output(services.storage, services.db, alice, image_bytes(), "image/png", META)
    with anyio.fail_after(30):
        async with Client(alice_server) as client:
            assert MEDIA_TOOLS <= {t.name for t in (await client.list_tools()).tools}
            listed = await client.call_tool("list_media", {})
            assert not listed.is_error
            (shown,) = listed.structured_content["items"]
            assert shown["media_id"] == item.id and shown["status"] == "ready" and shown["job_id"] == "job_x"
            assert shown["url"].startswith("http://127.0.0.1/media/") and item.id in listed.content[0].text
            got = await client.call_tool("get_media", {"media_id": item.id})
            assert got.structured_content["url"] and f"media://{item.id}" in got.content[0].text
        async with Client(bob_server) as client:
            for name in ("get_media", "delete_media"):
                assert error_of(await client.call_tool(name, {"media_id": item.id}))["code"] == "media_not_found"
            assert (await client.call_tool("list_media", {})).structured_content["items"] == []
        assert await services.storage.get(item.storage_key)
        async with Client(alice_server) as client:
            deleted = await client.call_tool("delete_media", {"media_id": item.id})
            assert deleted.structured_content == {"media_id": item.id, "status": "deleted"}
            again = await client.call_tool("delete_media", {"media_id": item.id})
            assert not again.is_error
            assert error_of(await client.call_tool("get_media", {"media_id": item.id}))["code"] == "media_not_found"
    assert not (services.storage.root / item.storage_key).exists()
    assert not (services.storage.root / item.preview_key).exists()


async def test_a_guest_neither_sees_the_tools_nor_reads_media(services):
    alice, _ = await make_user_with_token(services)
    item = await library.save_output(services.storage, services.db, alice, image_bytes(), "image/png", META)
    _, guest_server = await server_for(services, role="guest")
    with anyio.fail_after(30):
        async with Client(guest_server) as client:
            assert not MEDIA_TOOLS & {t.name for t in (await client.list_tools()).tools}
            with pytest.raises(MCPError) as info:
                await client.read_resource(f"media://{item.id}")
            assert info.value.error.data["code"] == "media_not_found"


async def test_resources_read_the_owners_media_as_a_blob_or_its_preview(services):
    alice, alice_server = await server_for(services)
    _, bob_server = await server_for(services)
    small_data = image_bytes(40, 30)
    small = await library.save_output(services.storage, services.db, alice, small_data, "image/png", META)
    large_data = image_bytes(1200, 900, noise=True)
    assert len(large_data) > RESOURCE_MAX_BYTES
    large = await library.save_output(services.storage, services.db, alice, large_data, "image/png", META)
    clip = await library.save_output(services.storage, services.db, alice, b"\x00" * 2_000_000, "video/mp4",
                                     MediaMeta(prompt="waves"))
    with anyio.fail_after(30):
        async with Client(alice_server) as client:
            templates = (await client.list_resource_templates()).resource_templates
            assert sorted(t.uri_template for t in templates) == ["job://{job_id}", "media://{media_id}"]
            listed = {str(r.uri) for r in (await client.list_resources()).resources}
            assert listed == {f"media://{m.id}" for m in (small, large, clip)}

            (whole,) = (await client.read_resource(f"media://{small.id}")).contents
            assert whole.mime_type == "image/png" and base64.b64decode(whole.blob) == small_data
            (preview,) = (await client.read_resource(f"media://{large.id}")).contents
            assert preview.mime_type == "image/jpeg" and preview.meta == {PREVIEW_META: True}
            assert len(base64.b64decode(preview.blob)) <= 200_000
            (link,) = (await client.read_resource(f"media://{clip.id}")).contents
            assert link.mime_type == "text/uri-list" and link.text.startswith("http://127.0.0.1/media/")
        async with Client(bob_server) as client:
            assert (await client.list_resources()).resources == []
            for uri in (f"media://{small.id}", "media://nope", "media://../../etc/passwd", "media://"):
                with pytest.raises(MCPError) as info:
                    await client.read_resource(uri)
                assert info.value.error.data["code"] == "media_not_found", uri


async def test_resources_and_tools_over_http_with_a_token(services, live_server):
    alice, alice_token = await make_user_with_token(services)
    _, bob_token = await make_user_with_token(services)
    data = image_bytes(40, 30)
    item = await library.save_output(services.storage, services.db, alice, data, "image/png", META)

    def http_client(token: str) -> Client:
        return Client(streamable_http_client(f"{live_server.url}/mcp", http_client=httpx2.AsyncClient(
            headers=bearer(token))), mode="legacy")

    with anyio.fail_after(30):
        async with http_client(alice_token) as client:
            (whole,) = (await client.read_resource(f"media://{item.id}")).contents
            assert base64.b64decode(whole.blob) == data
            got = await client.call_tool("get_media", {"media_id": item.id})
            assert got.structured_content["media_id"] == item.id
        async with http_client(bob_token) as client:
            with pytest.raises(MCPError) as info:
                await client.read_resource(f"media://{item.id}")
            assert info.value.error.data["code"] == "media_not_found"
            assert error_of(await client.call_tool("get_media", {"media_id": item.id}))["code"] == "media_not_found"
