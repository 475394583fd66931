"""MCP Apps through the SDK's own client: a client that declares the extension is shown the views
(tool `_meta`, result `_meta`, the `ui://` resources with their MIME type and CSP); one that does not
gets exactly the text and structured content it got before, and no views listed."""

from __future__ import annotations

import re
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.extension import advertise
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID

from smarthub_mcp.jobs.kinds import JOBS_PERMISSION
from smarthub_mcp.media.s3 import S3Storage
from smarthub_mcp.tools.apps.views import VIEW_OF_TOOL, VIEWS, document
from smarthub_mcp.tools.apps.wiring import VIEW_DATA_KEY
from smarthub_mcp.tools.catalog import all_tools
from smarthub_mcp.tools.server import build_mcp_server
from tests.factories import make_api_key, make_user_with_token

APPS = advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})
BOUND = {"generate_image": "gallery", "list_media": "gallery", "generate_video": "player", "get_job": "job",
         "get_balance": "balance"}


async def server_for(services: Any) -> Any:
    user_id, _ = await make_user_with_token(services)
    return build_mcp_server(services, api_key=await make_api_key(services, user_id))


OURS = ("ui", VIEW_DATA_KEY)


def ours(meta: dict[str, Any] | None) -> dict[str, Any]:
    """The `_meta` keys MCP Apps adds (the SDK stamps its own, e.g. serverInfo on 2026-07-28)."""
    return {k: v for k, v in (meta or {}).items() if k in OURS}


def comparable(result: Any) -> tuple[list[Any], Any]:
    """What a client sees of a result, minus signed links' expiry (they are made per call)."""
    strip = re.compile(r"exp=\d+&sig=[\w-]+")
    content = [strip.sub("", c.text) if c.type == "text" else (c.type, c.mime_type) for c in result.content]
    return content, strip.sub("", repr(result.structured_content))


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_client_with_apps_is_shown_the_views(services, mode):
    server = await server_for(services)
    with anyio.fail_after(60):
        async with Client(server, mode=mode, extensions=[APPS]) as client:
            # Advertised on 2026-07-28; the SDK leaves `extensions` out of a 2025 `initialize` answer.
            assert (EXTENSION_ID in (client.server_capabilities.extensions or {})) == (mode == "auto")
            tools = {t.name: t for t in (await client.list_tools()).tools}
            for tool, view in BOUND.items():
                uri = f"ui://smarthub/{view}.html"
                assert tools[tool].meta["ui"] == {"resourceUri": uri}
                assert tools[tool].meta["openai/outputTemplate"] == uri
            assert tools["chat"].meta is None or "ui" not in tools["chat"].meta
            # The tools a view calls are marked for ChatGPT builds that predate MCP Apps; no other is.
            accessible = {name for name, t in tools.items() if (t.meta or {}).get("openai/widgetAccessible")}
            assert accessible == {"get_job", "buy_credits", "get_usage"}
            listed = {str(r.uri) for r in (await client.list_resources()).resources}
            assert {v.uri for v in VIEWS} <= listed
            for view in VIEWS:
                (content,) = (await client.read_resource(view.uri)).contents
                assert content.mime_type == APP_MIME_TYPE
                assert content.text == document(view) and content.text.startswith("<!doctype html>")
                # Local storage: its links are under the server's public URL, and the CSP names that only.
                assert content.meta["ui"]["csp"] == {"resourceDomains": [services.settings.server.public_base_url]}
            await client.call_tool("chat", {"prompt": "hello", "max_tokens": 8})
            spent = (await client.call_tool("get_usage", {})).structured_content["total_spent"]
            balance = await client.call_tool("get_balance", {})
            assert balance.meta["ui"] == {"resourceUri": "ui://smarthub/balance.html"}
            assert balance.meta[VIEW_DATA_KEY] == {"spent_last_7_days": spent} and spent != "0.000000"
            image = await client.call_tool("generate_image", {"prompt": "a red fox", "model": "demo-image"})
            assert not image.is_error and image.structured_content["status"] == "succeeded"
            assert image.meta["ui"] == {"resourceUri": "ui://smarthub/gallery.html"}
            (made,) = image.structured_content["media"]
            assert made["url"].startswith(services.settings.server.public_base_url + "/media/")
            job = await client.call_tool("get_job", {"job_id": image.structured_content["job_id"]})
            assert job.meta["ui"] == {"resourceUri": "ui://smarthub/job.html"}
            assert (await client.call_tool("list_media", {})).meta["ui"]["resourceUri"].endswith("/gallery.html")


async def test_a_client_without_apps_gets_todays_results(services):
    """Same calls, same user, with and without the extension: only `_meta` differs."""
    server = await server_for(services)
    with anyio.fail_after(60):
        async with Client(server) as plain, Client(server, extensions=[APPS]) as apps:
            assert not [r for r in (await plain.list_resources()).resources if str(r.uri).startswith("ui://")]
            image = await plain.call_tool("generate_image", {"prompt": "a red fox", "model": "demo-image"})
            assert ours(image.meta) == {}
            assert [c.type for c in image.content] == ["text", "image"]  # the link and the preview, as before
            job_id = image.structured_content["job_id"]
            calls: list[tuple[str, dict[str, Any]]] = [
                ("get_balance", {}), ("list_media", {}), ("get_job", {"job_id": job_id})]
            for name, args in calls:
                before, after = await plain.call_tool(name, args), await apps.call_tool(name, args)
                assert ours(before.meta) == {} and after.meta["ui"]["resourceUri"].startswith("ui://smarthub/")
                assert {k: v for k, v in after.meta.items() if k not in OURS} == (before.meta or {})
                assert comparable(before) == comparable(after)
            refused = await plain.call_tool("get_job", {"job_id": "job_nope"})
            assert refused.is_error and ours(refused.meta) == {}


def test_views_call_only_tools_their_viewers_may_call():
    tools = all_tools()
    for view in VIEWS:
        called = set(re.findall(r'callTool\("(\w+)"', document(view)))
        assert called == set(view.calls), view.name
        for shown in view.tools:
            assert VIEW_OF_TOOL[shown] is view
            # Whoever sees the view (may call the tool it shows) may call what it calls: the same
            # permission, or the job tools' `tools:image`, which every seeded role with `tools:video`
            # has (jobs/kinds.py). Where an admin's roles differ, the server refuses the call as for
            # any tool and the view says its progress stopped updating.
            for c in called:
                assert tools[c].permission in (tools[shown].permission, JOBS_PERMISSION), (view.name, shown, c)


def test_views_carry_no_credential_and_load_nothing_from_elsewhere():
    for view in VIEWS:
        html = document(view)
        for needle in ("Authorization", "Bearer", "shk_", "fetch(", "XMLHttpRequest", "WebSocket", "http://",
                       "https://", "<script src", "<link", "@import", "localStorage", "document.cookie"):
            assert needle not in html, (view.name, needle)
        assert html.count("<script>") == 1 and len(html) < 16_000


def test_s3_storage_names_its_endpoint_and_bucket_host():
    store = S3Storage("pics", endpoint_url="https://s3.example.com:9000", region="us-east-1",
                      access_key_id="k", secret_access_key="s")
    assert store.origins() == ["https://s3.example.com:9000", "https://pics.s3.example.com:9000"]
