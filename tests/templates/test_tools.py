"""The template MCP tools through the SDK client: isolation over MCP, a paid run, free management."""

from __future__ import annotations

import anyio
from mcp import Client
from mcp.server.mcpserver import MCPServer

from smarthub_mcp.billing.money import MICRO
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.tools.binding import tools_for, visibility_middleware
from smarthub_mcp.tools.prompts import prompts_middleware
from tests.factories import make_user_with_token
from tests.templates.helpers import USER_PERMISSIONS
from tests.tools.results import error_of


async def _caller(services, credits: int = 0) -> Principal:
    user_id, _ = await make_user_with_token(services)
    if credits:
        await services.ledger.grant(user_id, credits * MICRO, kind="grant", idempotency_key=f"t:{user_id}")
    return Principal(user_id, f"{user_id}@example.com", "user", USER_PERMISSIONS, "api_key", email_verified=True)


def server_for(services, who: Principal) -> MCPServer:
    async def source() -> Principal:
        return who

    return MCPServer(name="t", middleware=[visibility_middleware(source), prompts_middleware(services, source)],
                     tools=tools_for(services, source))


async def test_template_tools_over_mcp(services):
    alice, bob = await _caller(services, credits=5), await _caller(services, credits=5)
    with anyio.fail_after(30):
        async with Client(server_for(services, alice)) as client:
            saved = await client.call_tool(
                "save_template",
                {"name": "Shout", "body": "Shout {{ word }}", "variables": [{"name": "word", "max_length": 20}]},
            )
            assert not saved.is_error, saved.content
            tid = saved.structured_content["id"]
            updated = await client.call_tool(
                "save_template",
                {"template_id": tid, "name": "Shout", "body": "SHOUT {{ word }}!", "variables": [{"name": "word"}]},
            )
            assert updated.structured_content["current_version"] == 2
            before = (await services.ledger.balance(alice.user_id)).balance
            ran = await client.call_tool("run_template", {"template_id": tid, "variables": {"word": "hey"}})
            assert not ran.is_error, ran.content
            assert ran.structured_content["version"] == 2 and "SHOUT hey!" in ran.structured_content["output"]
            charged = ran.structured_content["charged_micro"]
            assert charged > 0 and (await services.ledger.balance(alice.user_id)).balance == before - charged
            refused = await client.call_tool("run_template", {"template_id": tid, "variables": {"nope": "x"}})
            assert refused.is_error and error_of(refused)["code"] == "template_undeclared_variable"
            assert (await services.ledger.balance(alice.user_id)).balance == before - charged
            listed = await client.call_tool("list_templates", {"scope": "mine"})
            assert [t["id"] for t in listed.structured_content["templates"]] == [tid]

        async with Client(server_for(services, bob)) as client:
            for name, args in [
                ("get_template", {"template_id": tid}),
                ("run_template", {"template_id": tid, "variables": {"word": "x"}}),
                ("delete_template", {"template_id": tid}),
                ("save_template", {"template_id": tid, "name": "x", "body": "x", "variables": []}),
            ]:
                result = await client.call_tool(name, args)
                assert result.is_error and error_of(result)["code"] == "template_not_found", name
            everything = await client.call_tool("list_templates", {"scope": "all", "limit": 100})
            assert tid not in {t["id"] for t in everything.structured_content["templates"]}
            assert "shout" not in {p.name for p in (await client.list_prompts()).prompts}

        async with Client(server_for(services, alice)) as client:
            assert "shout" in {p.name for p in (await client.list_prompts()).prompts}
            deleted = await client.call_tool("delete_template", {"template_id": tid})
            assert not deleted.is_error
            assert "shout" not in {p.name for p in (await client.list_prompts(cache_mode="refresh")).prompts}


async def test_run_template_refuses_numbers_too_long_and_text_nothing_can_store(services):
    alice = await _caller(services, credits=5)
    with anyio.fail_after(30):
        async with Client(server_for(services, alice)) as client:
            counter = {"name": "Count", "body": "Count to {{ n }}", "variables": [{"name": "n", "type": "number"}]}
            saved = await client.call_tool("save_template", counter)
            tid = saved.structured_content["id"]
            before = (await services.ledger.balance(alice.user_id)).balance
            calls = [
                ("run_template", {"template_id": tid, "variables": {"n": "9" * 5000}}, "template_variable_type"),
                ("run_template", {"template_id": tid, "variables": {"n": "1\u0000"}}, "invalid_request"),
                ("get_template", {"template_id": "\ud800"}, "invalid_request"),
                ("get_template", {"template_id": "tpl\u0000"}, "invalid_request"),
                ("list_templates", {"search": "\ud800"}, "invalid_request"),
                ("list_templates", {"category": "a\u0000", "tag": "b"}, "invalid_request"),
                ("save_template", {"name": "N\u0000", "body": "x", "variables": []}, "invalid_request"),
            ]
            for name, arguments, code in calls:
                result = await client.call_tool(name, arguments)
                assert result.is_error and error_of(result)["code"] == code, (name, arguments, result)
            assert (await services.ledger.balance(alice.user_id)).balance == before


async def test_run_template_refuses_a_version_past_the_bound(services):
    alice = await _caller(services, credits=5)
    with anyio.fail_after(30):
        async with Client(server_for(services, alice)) as client:
            result = await client.call_tool(
                "run_template", {"template_id": "tpl_starter_summarize", "variables": {"text": "x"}, "version": 2**70}
            )
            assert result.is_error and "internal_error" not in str(result.content), result.content
            error = error_of(result)
            assert error["code"] == "invalid_request"
            assert error["details"]["errors"][0]["field"] == "version"
            assert "less than or equal to 1000000" in error["details"]["errors"][0]["problem"]


BAD_TEMPLATES = [
    {"body": "", "name": "n", "variables": []},
    {"body": "Hi", "name": "n", "variables": [], "category": "c" * 5000},
    {"body": "Hi", "name": "n", "variables": [], "tags": ["t" * 5000]},
    {"body": "Hi", "name": "n", "variables": [], "tags": [f"t{i}" for i in range(1000)]},
    {"body": "Hi", "name": "n", "variables": [], "default_model": "m" * 5000},
    {"body": "Hi", "name": "n", "variables": [], "description": "d" * 100_000},
    {"body": "b" * 990_000, "name": "n", "variables": []},
]


async def test_save_template_refuses_what_the_route_refuses(services, client):
    """The tool validates exactly as POST /api/v1/templates does: the same 400, never a 500."""
    from tests.factories import bearer

    alice = await _caller(services)
    _, token = await make_user_with_token(services)
    async with Client(server_for(services, alice)) as mcp:
        for bad in BAD_TEMPLATES:
            route = await client.post("/api/v1/templates", json=bad, headers=bearer(token))
            facade = await client.post("/api/v1/tools/save_template", json=bad, headers=bearer(token))
            tool = await mcp.call_tool("save_template", bad)
            assert route.status_code == facade.status_code == 400, (route.text[:200], facade.text[:200])
            assert tool.is_error and "internal_error" not in str(tool.content)[:2000], str(tool.content)[:300]
            assert facade.json()["error"]["code"] in ("invalid_request", "template_invalid")
    async with services.db.read() as conn:
        from sqlalchemy import text

        assert (await conn.execute(text("SELECT COUNT(*) FROM templates WHERE owner_id IS NOT NULL"))).scalar() == 0


async def test_run_template_takes_the_name_prompts_list_gives(services):
    """prompts/list names templates by slug; run_template accepts that name as well as the id."""
    alice = await _caller(services, credits=5)
    async with Client(server_for(services, alice)) as client:
        saved = await client.call_tool(
            "save_template", {"name": "Shout", "body": "Shout {{ word }}", "variables": [{"name": "word"}]}
        )
        tid, slug = saved.structured_content["id"], saved.structured_content["slug"]
        prompts = {p.name for p in (await client.list_prompts()).prompts}
        assert slug in prompts
        for ref in (tid, slug):
            ran = await client.call_tool("run_template", {"template_id": ref, "variables": {"word": "hey"}})
            assert not ran.is_error, ran.content
            assert ran.structured_content["template_id"] == tid
        missing = await client.call_tool("run_template", {"template_id": "no-such-slug", "variables": {}})
        assert error_of(missing)["code"] == "template_not_found"
