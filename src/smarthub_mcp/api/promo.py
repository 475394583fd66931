"""HTTP routes for promo codes: redemption for users, management for `promo:manage`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from smarthub_mcp.api.authn import require
from smarthub_mcp.api.body import read_json
from smarthub_mcp.billing import promo, promo_admin
from smarthub_mcp.errors import InvalidRequest
from smarthub_mcp.services import Services

MANAGE = "promo:manage"


class RedeemRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=100)


def _services(request: Request) -> Services:
    return request.app.state.services


async def redeem(request: Request) -> JSONResponse:
    principal = await require(request, "credits:read")  # as the redeem_promo and buy_credits tools
    body = await read_json(request, RedeemRequest)
    redemption = await promo.redeem(_services(request), principal, body.code)
    return JSONResponse({**redemption.as_dict(), "message": redemption.for_people()})


async def create_code(request: Request) -> JSONResponse:
    principal = await require(request, MANAGE)
    spec = await read_json(request, promo_admin.PromoCreate)
    created = await promo_admin.create_code(_services(request), spec, actor_id=principal.user_id)
    return JSONResponse(created, status_code=201)


async def list_codes(request: Request) -> JSONResponse:
    await require(request, MANAGE)
    raw = request.query_params.get("active")
    if raw not in (None, "", "true", "false"):
        raise InvalidRequest("active must be true or false")
    active = None if raw in (None, "") else raw == "true"
    return JSONResponse({"codes": await promo_admin.list_codes(_services(request), active=active)})


async def get_code(request: Request) -> JSONResponse:
    await require(request, MANAGE)
    return JSONResponse(await promo_admin.get_code(_services(request), request.path_params["code_id"]))


async def update_code(request: Request) -> JSONResponse:
    principal = await require(request, MANAGE)
    changes = await read_json(request, promo_admin.PromoChanges)
    updated = await promo_admin.update_code(
        _services(request), request.path_params["code_id"], changes, actor_id=principal.user_id
    )
    return JSONResponse(updated)


async def delete_code(request: Request) -> JSONResponse:
    principal = await require(request, MANAGE)
    code = await promo_admin.deactivate_code(
        _services(request), request.path_params["code_id"], actor_id=principal.user_id
    )
    return JSONResponse(code)


routes = [
    Route("/promo/redeem", redeem, methods=["POST"]),
    Route("/promo/codes", create_code, methods=["POST"]),
    Route("/promo/codes", list_codes, methods=["GET"]),
    Route("/promo/codes/{code_id}", get_code, methods=["GET"]),
    Route("/promo/codes/{code_id}", update_code, methods=["PUT"]),
    Route("/promo/codes/{code_id}", delete_code, methods=["DELETE"]),
]
