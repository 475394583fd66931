"""HTTP routes for buying credits, the Stripe webhook, and the admins' payment views."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from smarthub_mcp.api.authn import require
from smarthub_mcp.api.body import read_body, read_json
from smarthub_mcp.api.params import int_param, time_param
from smarthub_mcp.billing import flags, payments
from smarthub_mcp.billing.webhooks import handle_webhook
from smarthub_mcp.errors import SmartHubError
from smarthub_mcp.services import Services

WEBHOOK_MAX_BYTES = 512 * 1024  # Stripe events are a few KB; refuse anything absurd before verifying


class PurchaseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    package_id: str = Field(min_length=1, max_length=100)


def _services(request: Request) -> Services:
    return request.app.state.services


async def packages(request: Request) -> JSONResponse:
    return JSONResponse({"packages": payments.list_packages(_services(request).settings)})


async def purchase(request: Request) -> JSONResponse:
    principal = await require(request, "credits:read")  # as the redeem_promo and buy_credits tools
    body = await read_json(request, PurchaseRequest)
    checkout = await payments.create_checkout(_services(request), principal, body.package_id)
    return JSONResponse(
        {
            "checkout_url": checkout.url,
            "session_id": checkout.session_id,
            "payment_id": checkout.payment_id,
            "package": payments.package_view(checkout.package),
        },
        status_code=201,
    )


async def stripe_webhook(request: Request) -> JSONResponse:
    services = _services(request)
    try:
        raw = await read_body(request, WEBHOOK_MAX_BYTES)  # the signature covers these exact bytes
        outcome = await handle_webhook(services, raw, request.headers.get("stripe-signature"))
    except SmartHubError as exc:  # Stripe retries it: failing deliveries are what an operator alerts on
        services.metrics.webhook_deliveries.labels(exc.code).inc()
        raise
    except Exception:
        services.metrics.webhook_deliveries.labels("internal_error").inc()
        raise
    services.metrics.webhook_deliveries.labels("ok").inc()
    return JSONResponse({"received": True, "event_id": outcome.event_id, "outcome": outcome.outcome})


async def admin_payments(request: Request) -> JSONResponse:
    await require(request, "payments:read")
    items, cursor = await payments.list_payments(
        _services(request),
        status=request.query_params.get("status") or None,
        user_id=request.query_params.get("user_id") or None,
        since_ms=time_param(request, "since"),
        until_ms=time_param(request, "until"),
        cursor=request.query_params.get("cursor") or None,
        limit=int_param(request, "limit", 50, low=1, high=payments.MAX_PAGE),
    )
    body: dict[str, Any] = {"payments": items, "next_cursor": cursor}
    return JSONResponse(body)


async def admin_payments_summary(request: Request) -> JSONResponse:
    await require(request, "payments:read")
    summary = await payments.payments_summary(
        _services(request), since_ms=time_param(request, "since"), until_ms=time_param(request, "until")
    )
    return JSONResponse({"currencies": summary})


async def admin_payment_flags(request: Request) -> JSONResponse:
    # payments:read like the other payment views: reviewing disputes is the same audience (managers
    # and admins), and those roles already see emails in the credit report (reports:read).
    await require(request, "payments:read")
    items, cursor = await flags.list_flags(
        _services(request),
        user_id=request.query_params.get("user_id") or None,
        cursor=request.query_params.get("cursor") or None,
        limit=int_param(request, "limit", 50, low=1, high=flags.MAX_LIMIT),
    )
    return JSONResponse({"flags": items, "next_cursor": cursor})


routes = [
    Route("/credits/packages", packages, methods=["GET"]),
    Route("/credits/purchase", purchase, methods=["POST"]),
    Route("/payments/stripe/webhook", stripe_webhook, methods=["POST"]),
    Route("/admin/payments", admin_payments, methods=["GET"]),
    Route("/admin/payments/summary", admin_payments_summary, methods=["GET"]),
    Route("/admin/payment-flags", admin_payment_flags, methods=["GET"]),
]
