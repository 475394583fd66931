"""MCP completions (`completion/complete`) for prompt arguments, per caller.

Prompts are the caller's templates (see `tools/prompts.py`), so a completion is looked up the same
way `prompts/get` is: among the prompts this principal can see, by prompt name or template id.
Someone else's private template, an unknown prompt and an unknown argument all complete to nothing,
so the answer tells nothing about what exists.

What a variable offers, filtered by the typed prefix (case-insensitive):
- `enum`: its allowed values, in declared order; `boolean`: `true`, `false`.
- a variable named `model` (of any other type): the chat models that can answer now (enabled, with a
  provider that has its key), the template's default model first, then those the caller used lately
  (from their usage rows), then the rest as configured.
- a `string` or `number` variable: what the caller gave it on their recent successful runs, newest
  first (short single-line values only; templates/recent.py), then its default.

Resource templates: `media://{media_id}` completes to the caller's recent media ids and
`job://{job_id}` to their recent job ids, newest first; any other reference completes to nothing.
"""

from __future__ import annotations

from typing import Any

from mcp.shared.exceptions import MCPError
from mcp.types import (
    INVALID_PARAMS,
    Completion,
    CompletionArgument,
    CompletionContext,
    PromptReference,
    ResourceTemplateReference,
)

from smarthub_mcp.billing.usage import recent_models
from smarthub_mcp.errors import SmartHubError
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.jobs import store as job_store
from smarthub_mcp.jobs.kinds import JOBS_PERMISSION
from smarthub_mcp.media import library
from smarthub_mcp.services import Services
from smarthub_mcp.templates.recent import recall
from smarthub_mcp.templates.schemas import TemplateSummary
from smarthub_mcp.templates.store import TemplateStore
from smarthub_mcp.templates.variables import Variable
from smarthub_mcp.tools.binding import PrincipalSource
from smarthub_mcp.tools.media import MEDIA_PERMISSION
from smarthub_mcp.tools.prompts import visible_prompts

MAX_VALUES = 100
"""The most values one completion may carry (the spec's limit)."""
MODEL_ARGUMENT = "model"
NOTHING = Completion(values=[], total=0, has_more=False)
"""One answer for an unknown prompt or argument and for a template the caller cannot see."""


async def _model_names(services: Services, principal: Principal, template: TemplateSummary) -> list[str]:
    usable = [m.name for m in services.router.list_models() if m.kind == "chat" and m.available]
    async with services.db.read() as conn:
        recent = await recent_models(conn, principal.user_id)
    first = [template.default_model] if template.default_model else []
    return [name for name in dict.fromkeys([*first, *recent, *usable]) if name in usable]


async def _candidates(services: Services, principal: Principal, template: TemplateSummary, var: Variable) -> list[str]:
    if var.type == "enum":
        return list(var.choices or [])
    if var.type == "boolean":
        return ["true", "false"]
    if var.name == MODEL_ARGUMENT:
        return await _model_names(services, principal, template)
    recent = await recall(services.db, principal.user_id, template.id, var.name)
    default = [] if var.default is None else [str(var.default)]
    return list(dict.fromkeys([*recent, *default]))


RESOURCE_LISTED = 50


async def complete_resource_argument(services: Services, principal: Principal, uri: str,
                                     argument: CompletionArgument) -> Completion:
    """The caller's own media or job ids for `media://{media_id}` and `job://{job_id}`."""
    if uri == "media://{media_id}" and argument.name == "media_id" and principal.can(MEDIA_PERMISSION):
        items, _ = await library.list_for(services.db, principal.user_id, RESOURCE_LISTED)
        return matching([m.id for m in items], argument.value)
    if uri == "job://{job_id}" and argument.name == "job_id" and principal.can(JOBS_PERMISSION):
        jobs, _ = await job_store.list_for(services.db, principal.user_id, limit=RESOURCE_LISTED)
        return matching([j.id for j in jobs], argument.value)
    return NOTHING


def matching(values: list[str], typed: str) -> Completion:
    """`values` that start with `typed` (case-insensitive), at most MAX_VALUES of them."""
    prefix = typed.casefold()
    found = [v for v in values if v.casefold().startswith(prefix)]
    return Completion(values=found[:MAX_VALUES], total=len(found), has_more=len(found) > MAX_VALUES)


async def complete_prompt_argument(
    services: Services, principal: Principal, prompt: str, argument: CompletionArgument
) -> Completion | None:
    store = TemplateStore(services.db)
    found = next((t for n, t in await visible_prompts(store, principal) if prompt in (n, t.id)), None)
    if found is None:
        return None
    template, version = await store.resolve(principal.user_id, found.id)
    var = next((v for v in version.variables if v.name == argument.name), None)
    if var is None:
        return None
    return matching(await _candidates(services, principal, template, var), argument.value)


def completion_handler(services: Services, principal_source: PrincipalSource) -> Any:
    """The function `MCPServer.completion()` registers: `(ref, argument, context) -> Completion | None`."""

    async def complete(
        ref: Any, argument: CompletionArgument, context: CompletionContext | None
    ) -> Completion:
        if not isinstance(ref, PromptReference | ResourceTemplateReference):
            return NOTHING
        try:
            principal = await principal_source()
            if isinstance(ref, ResourceTemplateReference):
                return await complete_resource_argument(services, principal, ref.uri, argument)
            return await complete_prompt_argument(services, principal, ref.name, argument) or NOTHING
        except SmartHubError as exc:
            raise MCPError(INVALID_PARAMS, exc.message, exc.to_dict()["error"]) from None

    return complete
