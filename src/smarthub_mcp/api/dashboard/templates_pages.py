"""Prompt templates in the browser: the user's library and the public gallery, one template with
its versions, its numbers (for its owner) and a run form built from its declared variables. Runs go
as a `run_template` tool call through `invoke`, the metered path the API and MCP use."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from smarthub_mcp.api.dashboard.guard import page, services_of
from smarthub_mcp.api.dashboard.render import error_context, render
from smarthub_mcp.api.templates import run_template_call
from smarthub_mcp.errors import SmartHubError
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.ids import new_id
from smarthub_mcp.logs import request_id_var
from smarthub_mcp.templates.analytics import template_stats
from smarthub_mcp.templates.errors import TemplateNotFound
from smarthub_mcp.templates.store import RUN_PERMISSION, TemplateStore
from smarthub_mcp.templates.variables import Variable

FIELD = "var_"
LISTED = 50


async def library(request: Request, me: Principal, context: dict[str, Any]) -> Response:
    store = TemplateStore(services_of(request).db)
    search = request.query_params.get("search", "").strip()[:200] or None
    mine = await store.list(me.user_id, scope="mine", search=search, limit=LISTED)
    gallery = await store.list(me.user_id, scope="public", sort="popular", search=search, limit=LISTED)
    return render(request, "templates_list.html", {**context, "title": "Templates", "mine": mine,
                                                  "gallery": gallery, "search": search or ""})


def values_from(form: dict[str, str], variables: list[Variable]) -> dict[str, str]:
    """The run form's fields (`var_<name>`) as the runner's values; a blank optional field is left out,
    so the variable's default applies."""
    values = {}
    for var in variables:
        value = form.get(FIELD + var.name, "")
        if value != "" or var.required:
            values[var.name] = value
    return values


async def _show(request: Request, me: Principal, context: dict[str, Any], *, status: int = 200) -> Response:
    services = services_of(request)
    template = await TemplateStore(services.db).get(me.user_id, request.path_params["id"])
    try:
        stats = await template_stats(services.db, me.user_id, template.id)
    except TemplateNotFound:  # the numbers are for the template's owner only
        stats = None
    return render(request, "template.html", {"result": None, "values": {}, **context, "title": template.name,
                                             "template": template, "stats": stats, "field": FIELD}, status=status)


async def template_page(request: Request, me: Principal, context: dict[str, Any]) -> Response:
    return await _show(request, me, context)


async def run(request: Request, me: Principal, context: dict[str, Any]) -> Response:
    services = services_of(request)
    template = await TemplateStore(services.db).get(me.user_id, request.path_params["id"], with_versions=False)
    values = values_from(context["form"], template.variables)
    try:
        result = await run_template_call(services, me, template.id, values, None, None,
                                         request_id_var.get() or new_id("req"))
    except SmartHubError as exc:
        return await _show(request, me, {**context, **error_context(exc), "values": values}, status=exc.status)
    return await _show(request, me, {**context, "result": result, "values": values})


routes = [
    Route("/dashboard/templates", page(library, RUN_PERMISSION), methods=["GET"]),
    Route("/dashboard/templates/{id}", page(template_page, RUN_PERMISSION), methods=["GET"]),
    Route("/dashboard/templates/{id}/run", page(run, RUN_PERMISSION, None), methods=["POST"]),
]
