"""Documented operations: prompt templates, the gallery, runs, batches and stats; the probes and the
documents themselves."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from smarthub_mcp.api import templates as t
from smarthub_mcp.api.openapi import shapes as s
from smarthub_mcp.api.openapi.spec import Operation, Param, path, query
from smarthub_mcp.generation.templates import BatchResult, RunResult
from smarthub_mcp.templates.analytics import TemplateStats
from smarthub_mcp.templates.schemas import TemplateCreate, TemplateDetail, TemplateSummary, TemplateUpdate
from smarthub_mcp.templates.store import RUN_PERMISSION
from smarthub_mcp.templates.versions import MAX_VERSION

TEMPLATES, META = "templates", "meta"
ID = path("id", "A template id (`tpl_...`).")


class TemplateItems(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[TemplateSummary]


def _listing(sort: str) -> tuple[Param, ...]:
    return (
        query("category", "", type="string", maxLength=40),
        query("tag", "", type="string", maxLength=32),
        query("search", "Words in the name or description.", type="string", maxLength=200),
        query("sort", f"Default `{sort}`.", type="string", enum=["popular", "recent"]),
        query("limit", "", type="integer", minimum=1, maximum=100),
        query("offset", "", type="integer", minimum=0, maximum=10_000),
    )


OPERATIONS = [
    Operation("GET", "/templates", "Your templates", TEMPLATES, response=TemplateItems, permission=RUN_PERMISSION,
              params=_listing("recent")),
    Operation("POST", "/templates", "Create a template", TEMPLATES, TemplateCreate, TemplateDetail, 201,
              permission=RUN_PERMISSION, errors=(409,)),
    Operation("GET", "/templates/public", "The public gallery", TEMPLATES, response=TemplateItems,
              params=_listing("popular")),
    Operation("GET", "/templates/popular", "The public gallery, most used first", TEMPLATES, response=TemplateItems,
              params=_listing("popular")),
    Operation("GET", "/templates/{id}", "One template with its versions", TEMPLATES, response=TemplateDetail,
              params=(ID,), permission=RUN_PERMISSION, errors=(404,),
              description="Others see public templates' current version only."),
    Operation("PUT", "/templates/{id}", "Change a template", TEMPLATES, TemplateUpdate, TemplateDetail,
              params=(ID,), permission=RUN_PERMISSION, errors=(404, 409),
              description="Fields left out stay as they are; a new body or variables make a new version."),
    Operation("DELETE", "/templates/{id}", "Delete a template", TEMPLATES, status=204, params=(ID,),
              permission=RUN_PERMISSION, errors=(404,)),
    Operation("POST", "/templates/{id}/restore/{version}", "Make an old version current again", TEMPLATES,
              response=TemplateDetail, permission=RUN_PERMISSION, errors=(404,),
              params=(ID, path("version", "", pattern="^[0-9]+$", maxLength=len(str(MAX_VERSION))))),
    Operation("POST", "/templates/{id}/fork", "Copy a template into your library", TEMPLATES, t.ForkBody,
              TemplateDetail, 201, params=(ID,), permission=RUN_PERMISSION, errors=(404, 409),
              body_required=False),
    Operation("POST", "/templates/{id}/execute", "Run a template on a chat model", TEMPLATES, t.ExecuteBody,
              RunResult, params=(ID,), permission=RUN_PERMISSION, errors=(402, 404, 422, 429, 502),
              body_required=False, description="Paid like the `run_template` tool."),
    Operation("POST", "/templates/{id}/batch", "Run a template once per set of variables", TEMPLATES, t.BatchBody,
              BatchResult, params=(ID,), permission=RUN_PERMISSION, errors=(402, 404, 422, 429, 502),
              description="Each item is paid and reported on its own; a failed item charges nothing."),
    Operation("GET", "/templates/{id}/stats", "Runs, success rate and spend of your template", TEMPLATES,
              response=TemplateStats, params=(ID,), permission=RUN_PERMISSION, errors=(404,)),
    Operation("GET", "/openapi.json", "This document", META, response=s.OpenApiDocument, auth="public"),
    Operation("GET", "/tools/openapi.json", "The tool facade's own document (for Custom GPT actions)", META,
              response=s.OpenApiDocument, auth="public"),
    Operation("GET", "/healthz", "Liveness", META, response=s.Health, auth="public", prefix=""),
    Operation("GET", "/readyz", "Readiness: the database (and Redis, when set) answer", META,
              response=s.Readiness, auth="public", prefix="",
              extra_responses={"503": {"description": "Not ready: a dependency does not answer.",
                                       "content": {"application/json": {"schema": {
                                           "$ref": "#/components/schemas/Readiness"}}}}}),
]
