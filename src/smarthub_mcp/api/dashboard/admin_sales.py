"""Admin: promo codes (list, create, deactivate; through `billing.promo_admin`) and payments (the
list with refunds and disputes as Stripe reported them, totals per currency, flagged accounts; through
`billing.payments` and `billing.flags`). Refunds are made in Stripe's dashboard; its webhooks claw
the credits back (billing/clawbacks.py), and they show here."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from smarthub_mcp.api.dashboard.guard import page, services_of
from smarthub_mcp.api.dashboard.render import error_context, render
from smarthub_mcp.billing import flags, payments, promo_admin
from smarthub_mcp.errors import InvalidRequest, SmartHubError
from smarthub_mcp.identity.principal import Principal

MANAGE = "promo:manage"
ROWS = 100


async def _codes(request: Request, me: Principal, context: dict[str, Any], *, status: int = 200) -> Response:
    codes = await promo_admin.list_codes(services_of(request))
    return render(request, "admin_promo.html", {**context, "title": "Promo codes", "codes": codes[:ROWS]},
                  status=status)


async def codes_page(request: Request, me: Principal, context: dict[str, Any]) -> Response:
    return await _codes(request, me, context)


def spec_from(form: dict[str, str]) -> promo_admin.PromoCreate:
    values: dict[str, Any] = {"code": form["code"].strip() or None, "credits": form["credits"],
                              "description": form["description"].strip()}
    if form["max_redemptions"].strip():
        values["max_redemptions"] = form["max_redemptions"].strip()
    values["new_users_only"] = form["new_users_only"] == "on"
    try:
        return promo_admin.PromoCreate.model_validate(values)
    except ValidationError as exc:
        fields = sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]})
        raise InvalidRequest(f"check the fields: {', '.join(fields) or 'the form'}",
                             details={"fields": fields}) from None


async def create(request: Request, me: Principal, context: dict[str, Any]) -> Response:
    try:
        created = await promo_admin.create_code(services_of(request), spec_from(context["form"]), actor_id=me.user_id)
    except SmartHubError as exc:
        return await _codes(request, me, {**context, **error_context(exc)}, status=exc.status)
    return await _codes(request, me, {**context, "notice": f"Code {created['code']} created."})


async def deactivate(request: Request, me: Principal, context: dict[str, Any]) -> Response:
    try:
        code = await promo_admin.deactivate_code(services_of(request), request.path_params["id"], actor_id=me.user_id)
    except SmartHubError as exc:
        return await _codes(request, me, {**context, **error_context(exc)}, status=exc.status)
    return await _codes(request, me, {**context, "notice": f"Code {code['code']} deactivated."})


async def payments_page(request: Request, me: Principal, context: dict[str, Any]) -> Response:
    services = services_of(request)
    status = request.query_params.get("status") or None
    try:
        items, _ = await payments.list_payments(services, status=status, limit=ROWS)
    except SmartHubError as exc:
        return render(request, "refused.html", {**context, **error_context(exc), "title": "Payments"},
                      status=exc.status)
    summary = await payments.payments_summary(services)
    flagged, _ = await flags.list_flags(services, limit=50)
    return render(request, "admin_payments.html", {
        **context, "title": "Payments", "items": items, "summary": summary, "flags": flagged,
        "status": status or "", "statuses": payments.PAYMENT_STATUSES,
    })


routes = [
    Route("/dashboard/admin/promo", page(codes_page, MANAGE), methods=["GET"]),
    Route("/dashboard/admin/promo", page(create, MANAGE, ("code", "credits", "description", "max_redemptions",
                                                          "new_users_only")), methods=["POST"]),
    Route("/dashboard/admin/promo/{id}/deactivate", page(deactivate, MANAGE), methods=["POST"]),
    Route("/dashboard/admin/payments", page(payments_page, "payments:read"), methods=["GET"]),
]
