"""`/api/v1/templates`: the template library, the public gallery, runs, batches and stats.

Every route authenticates; managing and running templates needs `tools:templates`, reading the
gallery needs only a signed-in caller. Visibility and ownership rules live in the store, so
these handlers only parse, call and shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from smarthub_mcp.api.authn import authenticate, require
from smarthub_mcp.api.body import read_json_value
from smarthub_mcp.api.params import int_param, whole_number
from smarthub_mcp.errors import InvalidRequest
from smarthub_mcp.generation.templates import MAX_BATCH, RunResult, execute_batch
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.logs import request_id_var
from smarthub_mcp.services import Services
from smarthub_mcp.templates.analytics import template_stats
from smarthub_mcp.templates.schemas import TemplateCreate, TemplateUpdate
from smarthub_mcp.templates.store import RUN_PERMISSION, TemplateStore
from smarthub_mcp.templates.versions import MAX_VERSION
from smarthub_mcp.tools.catalog import all_tools
from smarthub_mcp.tools.registry import invoke

M = TypeVar("M", bound=BaseModel)


class ExecuteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    variables: dict[str, Any] = Field(default_factory=dict)
    version: int | None = Field(default=None, ge=1, le=MAX_VERSION)
    model: str | None = Field(default=None, max_length=100)


class BatchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_BATCH)
    version: int | None = Field(default=None, ge=1, le=MAX_VERSION)
    model: str | None = Field(default=None, max_length=100)


class ForkBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=120)


async def _body(request: Request, model: type[M]) -> M:
    data = await read_json_value(request)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [
            {"field": ".".join(str(p) for p in e["loc"]) or "(root)", "problem": e["msg"]} for e in exc.errors()
        ]
        raise InvalidRequest("invalid request body", details={"errors": problems}) from None


def _sort(request: Request, default: Literal["popular", "recent"]) -> Literal["popular", "recent"]:
    sort = request.query_params.get("sort", default)
    if sort not in ("popular", "recent"):
        raise InvalidRequest("'sort' is 'popular' or 'recent'", details={"parameter": "sort"})
    return sort  # type: ignore[return-value]


def _json(model: BaseModel | Sequence[BaseModel], status: int = 200) -> JSONResponse:
    if not isinstance(model, BaseModel):
        return JSONResponse({"items": [m.model_dump(mode="json") for m in model]}, status_code=status)
    return JSONResponse(model.model_dump(mode="json"), status_code=status)


def _store(request: Request) -> TemplateStore:
    return TemplateStore(request.app.state.services.db)


async def _listing(request: Request, scope: Literal["mine", "public"], sort: Literal["popular", "recent"]) -> Any:
    principal = await require(request, RUN_PERMISSION if scope == "mine" else None)
    q = request.query_params
    items = await _store(request).list(
        principal.user_id,
        scope=scope,
        category=q.get("category"),
        tag=q.get("tag"),
        search=q.get("search"),
        sort=_sort(request, sort),
        limit=int_param(request, "limit", 50, low=1, high=100),
        offset=int_param(request, "offset", 0, low=0, high=10_000),
    )
    return _json(items)


async def list_mine(request: Request) -> Response:
    return await _listing(request, "mine", "recent")


async def list_public(request: Request) -> Response:
    return await _listing(request, "public", "popular")


async def list_popular(request: Request) -> Response:
    return await _listing(request, "public", "popular")


async def create(request: Request) -> Response:
    principal = await require(request, RUN_PERMISSION)
    spec = await _body(request, TemplateCreate)
    return _json(await _store(request).create(principal, spec), 201)


async def get_one(request: Request) -> Response:
    principal = await require(request, RUN_PERMISSION)
    return _json(await _store(request).get(principal.user_id, request.path_params["id"]))


async def update(request: Request) -> Response:
    principal = await require(request, RUN_PERMISSION)
    patch = await _body(request, TemplateUpdate)
    return _json(await _store(request).update(principal, request.path_params["id"], patch))


async def delete(request: Request) -> Response:
    principal = await require(request, RUN_PERMISSION)
    await _store(request).delete(principal, request.path_params["id"])
    return Response(status_code=204)


async def restore(request: Request) -> Response:
    principal = await require(request, RUN_PERMISSION)
    version = whole_number(request.path_params["version"], "version", low=1, high=MAX_VERSION)
    return _json(await _store(request).restore(principal, request.path_params["id"], version))


async def fork(request: Request) -> Response:
    principal = await require(request, RUN_PERMISSION)
    body = await _body(request, ForkBody)
    return _json(await _store(request).fork(principal, request.path_params["id"], name=body.name), 201)


async def stats(request: Request) -> Response:
    principal = await require(request, RUN_PERMISSION)
    services: Services = request.app.state.services
    return _json(await template_stats(services.db, principal.user_id, request.path_params["id"]))


async def run_template_call(
    services: Services, principal: Principal, template_id: str, variables: dict[str, Any],
    version: int | None, model: str | None, request_id: str,
) -> RunResult:
    """One run as the `run_template` tool: through `invoke`, like every other tool call (the
    permission, the input check, metering and metrics)."""
    arguments = {"template_id": template_id, "variables": variables, "version": version, "model": model}
    result = await invoke(all_tools()["run_template"], services, principal, arguments, request_id=request_id)
    assert isinstance(result, RunResult)
    return result


async def run(request: Request) -> Response:
    principal = await authenticate(request, metered=True)  # the permission: `invoke` checks it
    body = await _body(request, ExecuteBody)
    services: Services = request.app.state.services
    return _json(await run_template_call(services, principal, request.path_params["id"], body.variables,
                                         body.version, body.model, request_id_var.get()))


async def batch(request: Request) -> Response:
    principal = await require(request, RUN_PERMISSION, metered=True)  # before the template is looked up
    body = await _body(request, BatchBody)
    services: Services = request.app.state.services
    template_id = request.path_params["id"]

    async def run_item(variables: dict[str, Any], request_id: str) -> RunResult:
        return await run_template_call(services, principal, template_id, variables, body.version, body.model,
                                   request_id)

    result = await execute_batch(services, principal, template_id, body.items, version=body.version,
                                 request_id=request_id_var.get(), run_item=run_item)
    return _json(result)


def routes() -> list[BaseRoute]:
    return [
        Route("/templates", list_mine, methods=["GET"]),
        Route("/templates", create, methods=["POST"]),
        Route("/templates/public", list_public, methods=["GET"]),
        Route("/templates/popular", list_popular, methods=["GET"]),
        Route("/templates/{id}", get_one, methods=["GET"]),
        Route("/templates/{id}", update, methods=["PUT"]),
        Route("/templates/{id}", delete, methods=["DELETE"]),
        # Not `{version:int}`: Starlette's converter would int() any run of digits, unbounded.
        Route("/templates/{id}/restore/{version}", restore, methods=["POST"]),
        Route("/templates/{id}/fork", fork, methods=["POST"]),
        Route("/templates/{id}/execute", run, methods=["POST"]),
        Route("/templates/{id}/batch", batch, methods=["POST"]),
        Route("/templates/{id}/stats", stats, methods=["GET"]),
    ]
