"""Completions from what the caller did lately, through the SDK's client on both databases: a
template's short text variables offer the values given on recent runs (newest first, long ones not
kept, never another user's), and `media://` and `job://` resource templates offer the caller's own ids."""

from __future__ import annotations

import anyio
from mcp import Client
from mcp.types import PromptReference, ResourceTemplateReference

from smarthub_mcp.tools.server import build_mcp_server
from tests.factories import make_api_key, make_user_with_token


async def completed(client: Client, ref, argument: str, typed: str = "") -> list[str]:
    result = await client.complete(ref, {"name": argument, "value": typed})
    return result.completion.values


async def test_recent_inputs_and_own_ids_are_offered(services):
    alice, _ = await make_user_with_token(services)
    bob, _ = await make_user_with_token(services)
    alice_server = build_mcp_server(services, api_key=await make_api_key(services, alice))
    bob_server = build_mcp_server(services, api_key=await make_api_key(services, bob))
    with anyio.fail_after(60):
        async with Client(alice_server) as client:
            saved = await client.call_tool("save_template", {
                "name": "Greeter", "body": "Greet {{ who }} in {{ lang }} ({{ n }} times)",
                "variables": [{"name": "who"}, {"name": "lang", "required": False, "default": "English"},
                              {"name": "n", "type": "number", "required": False}],
            })
            assert not saved.is_error, saved.content
            template_id = saved.structured_content["id"]
            for who, lang in (("Ann", "French"), ("Bob", "German"), ("Ann", "Welsh"), ("x" * 150, "Line\nbreak")):
                ran = await client.call_tool("run_template", {"template_id": template_id,
                                                              "variables": {"who": who, "lang": lang, "n": 2}})
                assert not ran.is_error, ran.content
            prompt = PromptReference(type="ref/prompt", name=template_id)
            assert await completed(client, prompt, "who") == ["Ann", "Bob"]  # newest first; the long one not kept
            assert await completed(client, prompt, "who", "b") == ["Bob"]
            assert await completed(client, prompt, "lang") == ["Welsh", "German", "French", "English"]
            assert await completed(client, prompt, "n") == ["2"]

            image = await client.call_tool("generate_image", {"prompt": "a fox", "model": "demo-image"})
            media_id = image.structured_content["media"][0]["media_id"]
            job_id = image.structured_content["job_id"]
            media_ref = ResourceTemplateReference(type="ref/resource", uri="media://{media_id}")
            job_ref = ResourceTemplateReference(type="ref/resource", uri="job://{job_id}")
            assert await completed(client, media_ref, "media_id") == [media_id]
            assert await completed(client, media_ref, "media_id", media_id[:6]) == [media_id]
            assert await completed(client, media_ref, "media_id", "zzz") == []
            assert await completed(client, job_ref, "job_id") == [job_id]
        async with Client(bob_server) as client:
            assert await completed(client, PromptReference(type="ref/prompt", name=template_id), "who") == []
            assert await completed(client, media_ref, "media_id") == []
            assert await completed(client, job_ref, "job_id") == []
