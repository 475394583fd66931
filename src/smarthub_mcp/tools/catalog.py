"""The tools this server offers, listed once: MCP, the HTTP facade and `/v1` all serve this list.

Adding a tool is writing it in its module with `@tool(...)` and naming it here; the order is the
order clients list them in.
"""

from __future__ import annotations

from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.tools import account, chat, images, jobs, media, templates, videos
from smarthub_mcp.tools.registry import ToolSpec

TOOLS: tuple[ToolSpec, ...] = (
    account.list_models,
    account.get_balance,
    account.get_usage,
    account.redeem_promo,
    account.buy_credits,
    chat.chat,
    templates.list_templates,
    templates.get_template,
    templates.save_template,
    templates.delete_template,
    templates.run_template,
    images.generate_image,
    videos.generate_video,
    jobs.get_job,
    jobs.list_jobs,
    jobs.cancel_job,
    media.list_media,
    media.get_media,
    media.delete_media,
)


def _by_name(tools: tuple[ToolSpec, ...]) -> dict[str, ToolSpec]:
    named = {spec.name: spec for spec in tools}
    if len(named) != len(tools):
        raise ValueError("two tools share a name")
    return named


_TOOLS_BY_NAME = _by_name(TOOLS)


def all_tools() -> dict[str, ToolSpec]:
    """Every tool by name, in listing order."""
    return dict(_TOOLS_BY_NAME)


def visible_tools(principal: Principal) -> list[ToolSpec]:
    """The tools `principal` may call (the others are not even listed)."""
    return [spec for spec in TOOLS if principal.can(spec.permission)]
