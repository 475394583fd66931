"""Credits in the browser: the packages for sale (each a button to Stripe Checkout and back), the
promo-code form, the user's purchases and the credits that came in. Through `billing.payments`,
`billing.promo` and the ledger's history, like the API; credits come only from Stripe's signed
webhook, never from the return page."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from smarthub_mcp.api.dashboard.guard import page, services_of
from smarthub_mcp.api.dashboard.render import error_context, render
from smarthub_mcp.billing import payments, promo
from smarthub_mcp.errors import SmartHubError
from smarthub_mcp.identity.principal import Principal

CHECKOUT_ORIGIN = "https://checkout.stripe.com"
"""Where the buy form leads after our redirect: the CSP's form-action must allow it."""
CREDIT_KINDS = ["grant", "purchase", "promo", "refund", "adjustment", "reversal"]
ROWS = 50


async def _show(request: Request, me: Principal, context: dict[str, Any], *, status: int = 200) -> Response:
    services = services_of(request)
    purchases, _ = await payments.list_payments(services, user_id=me.user_id, limit=ROWS)
    entries, _ = await services.ledger.history(me.user_id, kinds=CREDIT_KINDS, limit=ROWS)
    balance = await services.ledger.balance(me.user_id)
    return render(request, "credits.html", {
        **context, "title": "Credits", "packages": payments.list_packages(services.settings),
        "payments_on": services.stripe.configured, "purchases": purchases, "entries": entries, "balance": balance,
        "returned": request.query_params.get("checkout"),
    }, status=status, form_targets=CHECKOUT_ORIGIN)


async def credits_page(request: Request, me: Principal, context: dict[str, Any]) -> Response:
    return await _show(request, me, context)


async def buy(request: Request, me: Principal, context: dict[str, Any]) -> Response:
    try:
        checkout = await payments.create_checkout(services_of(request), me, context["form"]["package_id"])
    except SmartHubError as exc:
        return await _show(request, me, {**context, **error_context(exc)}, status=exc.status)
    return RedirectResponse(checkout.url, status_code=303, headers={"Cache-Control": "no-store"})


async def redeem(request: Request, me: Principal, context: dict[str, Any]) -> Response:
    try:
        redemption = await promo.redeem(services_of(request), me, context["form"]["code"])
    except SmartHubError as exc:
        return await _show(request, me, {**context, **error_context(exc)}, status=exc.status)
    return await _show(request, me, {**context, "notice": redemption.for_people()})


routes = [
    Route("/dashboard/credits", page(credits_page), methods=["GET"]),
    Route("/dashboard/credits/buy", page(buy, fields=("package_id",)), methods=["POST"]),
    Route("/dashboard/credits/redeem", page(redeem, fields=("code",)), methods=["POST"]),
]
