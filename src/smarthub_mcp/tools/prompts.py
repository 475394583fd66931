"""MCP prompts from templates, per caller, straight from the database.

The SDK's prompt list is global to a server, but prompts here are per user: the caller's own
templates plus the public ones. So a server middleware answers `prompts/list` and `prompts/get`
itself, for the principal of the request, from the store; nothing is cached in the process, so
every replica gives the same answer.

Prompt names: an own template goes by its slug; a public template of someone else (or a
starter) goes by its slug too, unless that name is already taken in the caller's list, in which
case it becomes `slug-<last 6 characters of its id>`. `prompts/get` also accepts a template id.
"""

from __future__ import annotations

from typing import Any

from mcp.server.context import CallNext, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp.types import (
    INVALID_PARAMS,
    GetPromptResult,
    ListPromptsResult,
    Prompt,
    PromptArgument,
    PromptMessage,
    TextContent,
)

from smarthub_mcp.errors import SmartHubError
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.safetext import refuse_flawed
from smarthub_mcp.services import Services
from smarthub_mcp.templates.schemas import TemplateSummary
from smarthub_mcp.templates.store import RUN_PERMISSION, TemplateStore
from smarthub_mcp.templates.variables import render_with
from smarthub_mcp.tools.binding import PrincipalSource

MAX_PROMPTS = 200
"""The caller's own templates first (newest first), then the most popular public ones."""


async def visible_prompts(store: TemplateStore, principal: Principal) -> list[tuple[str, TemplateSummary]]:
    """`(prompt name, template)` for everything the caller may use as a prompt, in listing order."""
    if not principal.can(RUN_PERMISSION):
        return []
    mine = await store.list(principal.user_id, scope="mine", limit=100)
    public = await store.list(principal.user_id, scope="public", sort="popular", limit=100)
    named: list[tuple[str, TemplateSummary]] = []
    taken: set[str] = set()
    for template in mine + [t for t in public if not t.mine]:
        name = template.slug if template.slug not in taken else f"{template.slug}-{template.id[-6:]}"
        taken.add(name)
        named.append((name, template))
    return named[:MAX_PROMPTS]


async def _list(store: TemplateStore, principal: Principal) -> ListPromptsResult:
    prompts: list[Prompt] = []
    for name, template in await visible_prompts(store, principal):
        _, version = await store.resolve(principal.user_id, template.id)
        prompts.append(
            Prompt(
                name=name,
                title=template.name,
                description=template.description or None,
                arguments=[
                    PromptArgument(
                        name=v.name,
                        description=v.description or None,
                        required=v.required and v.default is None,
                    )
                    for v in version.variables
                ],
            )
        )
    return ListPromptsResult(prompts=prompts)


async def _get(store: TemplateStore, principal: Principal, params: dict[str, Any]) -> GetPromptResult:
    name = params.get("name")
    arguments = params.get("arguments") or {}
    if not isinstance(name, str) or not isinstance(arguments, dict):
        raise MCPError(INVALID_PARAMS, "prompts/get needs a name and an object of string arguments")
    try:
        refuse_flawed({"name": name, "arguments": arguments}, "the prompt request")
    except SmartHubError as exc:
        raise MCPError(INVALID_PARAMS, exc.message, exc.to_dict()["error"]) from None
    found = next(
        (t for n, t in await visible_prompts(store, principal) if n == name or t.id == name),
        None,
    )
    if found is None:
        # The same answer for a missing prompt and for someone else's private template.
        raise MCPError(INVALID_PARAMS, f"Unknown prompt: {name}", {"code": "template_not_found"})
    template, version = await store.resolve(principal.user_id, found.id)
    try:
        text = render_with(version.body, version.variables, arguments)
    except SmartHubError as exc:
        raise MCPError(INVALID_PARAMS, exc.message, exc.to_dict()["error"]) from None
    return GetPromptResult(
        description=template.description or template.name,
        messages=[PromptMessage(role="user", content=TextContent(type="text", text=text))],
    )


def prompts_middleware(services: Services, principal_source: PrincipalSource) -> Any:
    """Answer `prompts/list` and `prompts/get` for the calling principal; pass everything else on."""

    async def middleware(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> Any:
        if ctx.method not in ("prompts/list", "prompts/get"):
            return await call_next(ctx)
        try:
            principal = await principal_source()
        except SmartHubError as exc:
            raise MCPError(INVALID_PARAMS, exc.message, exc.to_dict()["error"]) from None
        store = TemplateStore(services.db)
        if ctx.method == "prompts/list":
            return await _list(store, principal)
        return await _get(store, principal, dict(ctx.params or {}))

    return middleware
