"""MCP tools over prompt templates: list, get, save, delete (free) and run (paid)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from smarthub_mcp.errors import validated
from smarthub_mcp.generation.templates import RunResult, execute
from smarthub_mcp.templates.schemas import TemplateCreate, TemplateDetail, TemplateSummary, TemplateUpdate, Visibility
from smarthub_mcp.templates.store import RUN_PERMISSION, TemplateStore
from smarthub_mcp.templates.variables import Variable
from smarthub_mcp.templates.versions import MAX_VERSION
from smarthub_mcp.tools.registry import ACCOUNT_CHANGE, PAID_GENERATION, READ_ONLY, ToolContext, tool


class TemplateList(BaseModel):
    templates: list[TemplateSummary]


class Deleted(BaseModel):
    template_id: str
    deleted: bool = True


def _list_text(result: TemplateList) -> str:
    if not result.templates:
        return "No templates found."
    lines = [f"{len(result.templates)} template(s):"]
    for t in result.templates:
        owner = "yours" if t.mine else ("starter" if t.owner_id is None else "public")
        lines.append(f"- {t.name} (id {t.id}, {owner}, v{t.current_version}): {t.description}")
    return "\n".join(lines)


@tool(
    name="list_templates",
    title="List prompt templates",
    permission=RUN_PERMISSION,
    paid=False,
    annotations=READ_ONLY,
    summarize=_list_text,
)
async def list_templates(
    tc: ToolContext,
    scope: Annotated[
        Literal["all", "mine", "public"], Field(description="Your templates, the public gallery, or both.")
    ] = "all",
    search: Annotated[str | None, Field(description="Words to look for in name or description.")] = None,
    category: str | None = None,
    tag: str | None = None,
    limit: Annotated[int, Field(ge=1, le=100)] = 50,
) -> TemplateList:
    """List prompt templates you can run: your own and the public gallery (starter templates for
    summarizing, translating, code review, email replies and more). Use `get_template` to see a
    template's variables, then `run_template` to run it."""
    found = await TemplateStore(tc.services.db).list(
        tc.principal.user_id,
        scope="visible" if scope == "all" else scope,
        search=search,
        category=category,
        tag=tag,
        sort="popular" if scope == "public" else "recent",
        limit=limit,
    )
    return TemplateList(templates=found)


def _detail_text(t: TemplateDetail) -> str:
    variables = ", ".join(
        f"{v.name} ({v.type}{'' if v.required and v.default is None else ', optional'})" for v in t.variables
    )
    return f"{t.name} (id {t.id}, version {t.current_version}). Variables: {variables or 'none'}.\n\n{t.body}"


@tool(
    name="get_template",
    title="Show a prompt template",
    permission=RUN_PERMISSION,
    paid=False,
    annotations=READ_ONLY,
    summarize=_detail_text,
)
async def get_template(tc: ToolContext, template_id: str) -> TemplateDetail:
    """Show one template: its body, its variables (name, type, required, choices) and its versions."""
    return await TemplateStore(tc.services.db).get(tc.principal.user_id, template_id)


@tool(
    name="save_template",
    title="Save a prompt template",
    permission=RUN_PERMISSION,
    paid=False,
    annotations=ACCOUNT_CHANGE,
    summarize=lambda t: f"Saved {t.name} (id {t.id}), now at version {t.current_version}.",
)
async def save_template(
    tc: ToolContext,
    name: Annotated[str, Field(min_length=1, max_length=120)],
    body: Annotated[str, Field(description="The prompt, with {{ variable }} placeholders.")],
    variables: Annotated[
        list[Variable], Field(description="Every placeholder declared: name, type, required, default...")
    ],
    template_id: Annotated[str | None, Field(description="Set to update an existing template.")] = None,
    description: str = "",
    category: str = "general",
    tags: list[str] | None = None,
    visibility: Visibility = "private",
    default_model: str | None = None,
) -> TemplateDetail:
    """Create a prompt template, or update yours (pass `template_id`): a changed body or changed
    variables make a new version. Placeholders are `{{ name }}` and nothing else; every one must
    be declared in `variables`. Publishing (`visibility: public`) needs the publish permission."""
    store = TemplateStore(tc.services.db)
    fields: dict[str, Any] = {
        "name": name,
        "body": body,
        "variables": variables,
        "description": description,
        "category": category,
        "visibility": visibility,
        "default_model": default_model,
    }
    if tags is not None:
        fields["tags"] = tags
    if template_id is None:
        return await store.create(tc.principal, validated(TemplateCreate, fields, "the template is invalid"))
    return await store.update(tc.principal, template_id, validated(TemplateUpdate, fields, "the template is invalid"))


@tool(
    name="delete_template",
    title="Delete a prompt template",
    permission=RUN_PERMISSION,
    paid=False,
    annotations=ACCOUNT_CHANGE.model_copy(update={"destructive_hint": True}),
    summarize=lambda d: f"Deleted template {d.template_id}.",
)
async def delete_template(tc: ToolContext, template_id: str) -> Deleted:
    """Delete one of your templates and all its versions (its run history stays in your stats)."""
    await TemplateStore(tc.services.db).delete(tc.principal, template_id)
    return Deleted(template_id=template_id)


@tool(
    name="run_template",
    title="Run a prompt template",
    permission=RUN_PERMISSION,
    paid=True,
    annotations=PAID_GENERATION,
    summarize=lambda r: f"{r.output}\n\n({r.model}, template v{r.version}, {r.credits_charged} credits)",
)
async def run_template(
    tc: ToolContext,
    template_id: str,
    variables: Annotated[dict[str, Any], Field(description="A value for each variable the template declares.")],
    version: Annotated[
        int | None, Field(ge=1, le=MAX_VERSION, description="Run an older version instead of the current one.")
    ] = None,
    model: Annotated[str | None, Field(description="Override the template's model.")] = None,
) -> RunResult:
    """Run a template with your variables on a chat model and return the answer. Costs credits:
    an upper-bound estimate is held first and only the exact price is charged. Bad or missing
    variables are refused before anything is charged."""
    return await execute(
        tc.services,
        tc.principal,
        template_id,
        variables,
        version=version,
        model=model,
        request_id=tc.request_id,
        charge=tc.charge,
    )
