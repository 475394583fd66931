"""Writing templates in the browser: a new template, a new version of one's own (name, description,
visibility, body), and restoring an old version. Through `TemplateStore`, like the API.

The form has no variable editor: the variables are the body's `{{ names }}`. A name the template
already declares keeps its declaration (type, choices, default); a new one is a required text."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from smarthub_mcp.api.dashboard.guard import page, services_of
from smarthub_mcp.api.dashboard.render import error_context, render
from smarthub_mcp.api.params import whole_number
from smarthub_mcp.errors import InvalidRequest, SmartHubError
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.templates.errors import TemplateNotEditable
from smarthub_mcp.templates.render import placeholders
from smarthub_mcp.templates.schemas import TemplateCreate, TemplateUpdate
from smarthub_mcp.templates.store import RUN_PERMISSION, TemplateStore
from smarthub_mcp.templates.variables import Variable
from smarthub_mcp.templates.versions import MAX_VERSION

FIELDS = ("name", "description", "visibility", "body")


def variables_for(body: str, existing: list[Variable]) -> list[Variable]:
    known = {v.name: v for v in existing}
    return [known.get(name) or Variable(name=name) for name in placeholders(body)]


def _checked(model: Any, values: dict[str, Any]) -> Any:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        fields = sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]})
        raise InvalidRequest(f"check the fields: {', '.join(fields) or 'the form'}",
                             details={"fields": fields}) from None


async def new_page(request: Request, me: Principal, context: dict[str, Any], *, status: int = 200) -> Response:
    values = context.get("form") or {"name": "", "description": "", "visibility": "private", "body": ""}
    return render(request, "template_form.html", {**context, "title": "New template", "values": values,
                                                  "action": "/dashboard/templates/new"}, status=status)


async def create(request: Request, me: Principal, context: dict[str, Any]) -> Response:
    form = context["form"]
    try:
        spec = _checked(TemplateCreate, {"name": form["name"], "description": form["description"],
                                         "visibility": form["visibility"] or "private", "body": form["body"],
                                         "variables": variables_for(form["body"], [])})
        created = await TemplateStore(services_of(request).db).create(me, spec)
    except SmartHubError as exc:
        return await new_page(request, me, {**context, **error_context(exc)}, status=exc.status)
    return RedirectResponse(f"/dashboard/templates/{created.id}", status_code=303)


async def edit_page(request: Request, me: Principal, context: dict[str, Any], *, status: int = 200) -> Response:
    template = await TemplateStore(services_of(request).db).get(me.user_id, request.path_params["id"],
                                                                with_versions=False)
    if not template.mine:
        raise TemplateNotEditable("only the template's owner can edit it")
    values = context.get("form") or {"name": template.name, "description": template.description,
                                     "visibility": template.visibility, "body": template.body}
    return render(request, "template_form.html", {
        **context, "title": f"Edit {template.name}", "values": values,
        "action": f"/dashboard/templates/{template.id}/edit"}, status=status)


async def update(request: Request, me: Principal, context: dict[str, Any]) -> Response:
    form = context["form"]
    store = TemplateStore(services_of(request).db)
    try:
        current = await store.get(me.user_id, request.path_params["id"], with_versions=False)
        patch = _checked(TemplateUpdate, {"name": form["name"], "description": form["description"],
                                          "visibility": form["visibility"] or None, "body": form["body"],
                                          "variables": variables_for(form["body"], current.variables)})
        await store.update(me, current.id, patch)
    except SmartHubError as exc:
        return await edit_page(request, me, {**context, **error_context(exc)}, status=exc.status)
    return RedirectResponse(f"/dashboard/templates/{current.id}", status_code=303)


async def restore(request: Request, me: Principal, context: dict[str, Any]) -> Response:
    version = whole_number(request.path_params["version"], "version", low=1, high=MAX_VERSION)
    restored = await TemplateStore(services_of(request).db).restore(me, request.path_params["id"], version)
    return RedirectResponse(f"/dashboard/templates/{restored.id}", status_code=303)


routes = [
    Route("/dashboard/templates/new", page(new_page, RUN_PERMISSION), methods=["GET"]),
    Route("/dashboard/templates/new", page(create, RUN_PERMISSION, FIELDS), methods=["POST"]),
    Route("/dashboard/templates/{id}/edit", page(edit_page, RUN_PERMISSION), methods=["GET"]),
    Route("/dashboard/templates/{id}/edit", page(update, RUN_PERMISSION, FIELDS), methods=["POST"]),
    Route("/dashboard/templates/{id}/restore/{version}", page(restore, RUN_PERMISSION), methods=["POST"]),
]
