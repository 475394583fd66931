"""MCP prompts served per user from the database, through the SDK's client."""

from __future__ import annotations

import anyio
import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError

from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.templates.schemas import TemplateUpdate
from smarthub_mcp.templates.store import TemplateStore
from smarthub_mcp.tools.prompts import prompts_middleware
from tests.templates.helpers import principal, spec


def server_for(services, who: Principal) -> MCPServer:
    """A server whose caller is `who` (the real app resolves the caller from the bearer token)."""

    async def source() -> Principal:
        return who

    return MCPServer(name="t", middleware=[prompts_middleware(services, source)])


async def test_prompts_list_and_get_are_per_user(services):
    db = services.db
    store, alice, bob = TemplateStore(db), await principal(db), await principal(db)
    secret = await store.create(alice, spec(name="Alice secret", slug="summarize"))
    with anyio.fail_after(20):
        async with Client(server_for(services, alice)) as client:
            listed = {p.name: p for p in (await client.list_prompts()).prompts}
            assert "summarize" in listed and listed["summarize"].title == "Alice secret"
            starter = next(n for n, p in listed.items() if p.title == "Summarize")
            assert starter.startswith("summarize-"), "a public template never shadows the caller's own"
            assert [(a.name, a.required) for a in listed["summarize"].arguments] == [("who", True)]

            got = await client.get_prompt("summarize", {"who": "{{ ''.__class__ }}"})
            assert got.messages[0].content.text == "Hello {{ ''.__class__ }}!"
            starter_text = (await client.get_prompt(starter, {"text": "Some text."})).messages[0].content.text
            assert "Some text." in starter_text and "Length: short" in starter_text
            with pytest.raises(MCPError) as info:
                await client.get_prompt("summarize", {})
            assert info.value.error.data["code"] == "template_missing_variable"
            with pytest.raises(MCPError) as info:
                await client.get_prompt("summarize", {"who": "x", "extra": "y"})
            assert info.value.error.data["code"] == "template_undeclared_variable"
            for refused in ({"who": "a\u0000b"}, {"who": "\ud800"}):
                with pytest.raises(MCPError) as info:
                    await client.get_prompt("summarize", refused)
                assert info.value.error.data["code"] == "invalid_request", refused

        async with Client(server_for(services, bob)) as client:
            names = {p.name for p in (await client.list_prompts()).prompts}
            titles = {p.title for p in (await client.list_prompts(cache_mode="refresh")).prompts}
            assert "summarize" in names and "Alice secret" not in titles
            for name in (secret.id, f"summarize-{secret.id[-6:]}"):
                with pytest.raises(MCPError) as info:
                    await client.get_prompt(name, {"who": "x"})
                assert info.value.error.data["code"] == "template_not_found"

    # A change in the database shows at once: nothing is cached per server.
    await store.update(alice, secret.id, TemplateUpdate(body="Bye {{ who }}."))
    async with Client(server_for(services, alice)) as client:
        assert (await client.get_prompt(secret.id, {"who": "Al"})).messages[0].content.text == "Bye Al."


async def test_prompt_arguments_too_long_to_read_are_invalid_params(services):
    store, alice = TemplateStore(services.db), await principal(services.db)
    await store.create(alice, spec(slug="count", body="Count to {{ n }}.", variables=[{"name": "n", "type": "number"}]))
    with anyio.fail_after(20):
        async with Client(server_for(services, alice)) as client:
            with pytest.raises(MCPError) as info:
                await client.get_prompt("count", {"n": "9" * 5000})  # past Python's 4300-digit limit for int()
            assert info.value.error.data["code"] == "template_variable_type"
            assert (await client.get_prompt("count", {"n": "12"})).messages[0].content.text == "Count to 12."
