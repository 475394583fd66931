"""MCP completions for prompt arguments through the SDK's client, over real HTTP (both protocol
generations) and stdio, on both databases: allowed values by typed prefix, model names (recently
used first), and nothing from another user's private template."""

from __future__ import annotations

import os
import sys

import anyio
import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import PromptReference, ResourceTemplateReference

from smarthub_mcp.app import build_app
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.templates.schemas import TemplateCreate
from smarthub_mcp.templates.store import TemplateStore
from tests.conftest import TEST_JWT_SECRET, LiveServer
from tests.factories import bearer, make_api_key, make_user_with_token
from tests.templates.helpers import USER_PERMISSIONS
from tests.tools.conftest import OPENAI_KEY

TONES = ["formal", "friendly", "funny", "Fierce"]


def as_principal(user_id: str) -> Principal:
    return Principal(user_id=user_id, email=f"{user_id}@example.com", role="user",
                     permissions=USER_PERMISSIONS, auth_method="jwt")


async def make_templates(services) -> tuple[str, str, str]:
    """Alice's private template with typed variables, and Bob's private one; returns
    (alice's token, alice's api key, bob's template id)."""
    alice, token = await make_user_with_token(services)
    bob, _ = await make_user_with_token(services)
    store = TemplateStore(services.db)
    await store.create(as_principal(alice), TemplateCreate(
        name="Tone writer", slug="tone-writer",
        body="Write {{ text }} in a {{ tone }} tone for {{ model }} (short: {{ short }}, in {{ lang }}).",
        variables=[
            {"name": "text"},
            {"name": "tone", "type": "enum", "choices": TONES, "required": False, "default": "friendly"},
            {"name": "model", "required": False},
            {"name": "short", "type": "boolean", "required": False},
            {"name": "lang", "required": False, "default": "English"},
        ],
    ))
    secret = await store.create(as_principal(bob), TemplateCreate(
        name="Bob secret", slug="bob-secret", body="{{ code }}",
        variables=[{"name": "code", "type": "enum", "choices": ["bob-only-1", "bob-only-2"]}],
    ))
    return token, await make_api_key(services, alice), secret.id


async def values(client: Client, prompt: str, argument: str, typed: str) -> list[str]:
    result = await client.complete(PromptReference(type="ref/prompt", name=prompt), {"name": argument, "value": typed})
    assert result.completion.total == len(result.completion.values) and not result.completion.has_more
    return result.completion.values


async def check(client: Client, bob_template: str) -> None:
    assert client.server_capabilities.completions is not None
    assert await values(client, "tone-writer", "tone", "") == TONES
    assert await values(client, "tone-writer", "tone", "f") == TONES  # case-insensitive
    assert await values(client, "tone-writer", "tone", "fr") == ["friendly"]
    assert await values(client, "tone-writer", "tone", "FU") == ["funny"]
    assert await values(client, "tone-writer", "tone", "x") == []
    assert await values(client, "tone-writer", "short", "t") == ["true"]
    assert await values(client, "tone-writer", "lang", "") == ["English"]
    assert await values(client, "tone-writer", "text", "") == []
    # Model names: the one used lately first, then the chat models that can answer ("offline" has no key).
    assert await values(client, "tone-writer", "model", "") == ["smart", "demo-chat"]
    assert await values(client, "tone-writer", "model", "DEM") == ["demo-chat"]
    # A starter (public) template's enum.
    assert await values(client, "summarize", "length", "s") == ["short"]
    # Bob's private template, by id or by slug: nothing, as for a prompt that does not exist.
    for name in (bob_template, "bob-secret", "no-such-prompt"):
        assert await values(client, name, "code", "") == []
    unknown = await client.complete(
        ResourceTemplateReference(type="ref/resource", uri="file:///{x}"), {"name": "x", "value": ""}
    )
    assert unknown.completion.values == []


async def test_completions_over_http_are_per_user(fallback_services):
    token, _, bob_template = await make_templates(fallback_services)
    async with LiveServer(build_app(services=fallback_services)) as server:
        with anyio.fail_after(60):
            for mode in ("legacy", "auto"):  # 2025-11-25 handshake, then 2026-07-28
                http = httpx2.AsyncClient(headers=bearer(token))
                async with Client(streamable_http_client(f"{server.url}/mcp", http_client=http), mode=mode) as client:
                    used = await client.call_tool("chat", {"model": "smart", "prompt": "hi", "max_tokens": 8})
                    assert not used.is_error, used.content
                    await check(client, bob_template)


async def test_completions_over_stdio(fallback_services, database_url, fallback_config_path, tmp_path):
    _, key, bob_template = await make_templates(fallback_services)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "SMARTHUB_DATABASE_URL": database_url,
        "SMARTHUB_JWT_SECRET": TEST_JWT_SECRET,
        "SMARTHUB_AUTH__DEV_MODE": "false",
        "SMARTHUB_CONFIG": str(fallback_config_path),
        "FAKE_OPENAI_KEY": OPENAI_KEY,
        "SMARTHUB_API_KEY": key,
    }
    params = StdioServerParameters(command=sys.executable, args=["-m", "smarthub_mcp", "stdio"], env=env, cwd=tmp_path)
    with anyio.fail_after(60):
        async with Client(stdio_client(params), mode="legacy") as client:
            assert not (await client.call_tool("chat", {"model": "smart", "prompt": "hi", "max_tokens": 8})).is_error
            await check(client, bob_template)
