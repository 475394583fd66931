"""Documented operations: balance and history, the admin's money tools, payments and promo codes."""

from __future__ import annotations

from typing import Any

from smarthub_mcp.api import credits, payments, promo
from smarthub_mcp.api.openapi import shapes_billing as b
from smarthub_mcp.api.openapi.spec import CURSOR, Operation, Param, limit, path, query, time_query
from smarthub_mcp.billing import flags, promo_admin
from smarthub_mcp.billing import payments as billing_payments

CREDITS, ADMIN_CREDITS, PAYMENTS, PROMO = "credits", "admin: credits", "payments", "promo"
RANGE = (time_query("from", "Start (default: 30 days before `to`). " + "ISO date or epoch ms."),
         time_query("to", "End, exclusive (default: now). ISO date or epoch ms."))
KIND = Param("kind", {"type": "array", "items": {"type": "string", "enum": sorted(credits.KINDS)}},
             "Only entries of these kinds (repeat the parameter).", explode=True)
WEBHOOK_BODY: dict[str, Any] = {
    "type": "object", "additionalProperties": True,
    "description": "A Stripe event, exactly as Stripe signs and sends it.",
}
SIGNATURE = Param("Stripe-Signature", {"type": "string"}, "Stripe's signature of the raw body.", "header")

OPERATIONS = [
    Operation("GET", "/credits/balance", "Your balance", CREDITS, response=b.Balance, permission="credits:read"),
    Operation("GET", "/credits/history", "Your ledger entries, newest first", CREDITS, response=b.EntryPage,
              permission="credits:read",
              params=(KIND, time_query("from"), time_query("to"), CURSOR, limit(50, credits.MAX_PAGE))),
    Operation("GET", "/credits/stats", "Your usage by day, tool and model", CREDITS, response=b.UsageStats,
              params=RANGE, permission="credits:read"),
    Operation("GET", "/credits/packages", "Credit packages for sale", PAYMENTS, response=b.PackageList,
              auth="public"),
    Operation("POST", "/credits/purchase", "Open a Stripe Checkout for a package", PAYMENTS,
              payments.PurchaseRequest, b.Checkout, 201, permission="credits:read", errors=(404, 502, 503),
              description="Pay at `checkout_url`; the credits arrive when Stripe's signed webhook says the "
                          "payment is complete. 503 `payments_unavailable` when Stripe is not configured."),
    Operation("POST", "/payments/stripe/webhook", "Stripe's webhook", PAYMENTS, WEBHOOK_BODY, b.WebhookReceived,
              params=(SIGNATURE,), auth="public", errors=(503,),
              description="For Stripe only: the body is verified against `Stripe-Signature` (400 "
                          "`invalid_signature`) before anything is read."),
    Operation("POST", "/admin/credits/adjust", "Add or take away credits", ADMIN_CREDITS, b.AdjustBody, b.Entry,
              permission="credits:adjust", errors=(402, 404, 409),
              description="One ledger entry, idempotent by `idempotency_key`, written to the audit log."),
    Operation("POST", "/admin/credits/bulk", "Many adjustments, all or nothing", ADMIN_CREDITS, b.BulkBody,
              b.EntryList, permission="credits:adjust", errors=(402, 404, 409)),
    Operation("GET", "/admin/credits/audit", "Every admin money action, newest first", ADMIN_CREDITS,
              response=b.AuditPage, permission="reports:read", params=(CURSOR, limit(50, credits.MAX_PAGE))),
    Operation("GET", "/admin/credits/report", "Spend, grants and clawbacks by user and day", ADMIN_CREDITS,
              response=b.Report, permission="reports:read",
              params=(*RANGE, query("format", "`csv` for a spreadsheet.", type="string", enum=["json", "csv"])),
              extensions={"x-alternative-media": b.csv_report()}),
    Operation("GET", "/admin/payments", "Payments, newest first", PAYMENTS, response=b.PaymentPage,
              permission="payments:read",
              params=(query("status", "", type="string", enum=list(billing_payments.PAYMENT_STATUSES)),
                      query("user_id", "", type="string", maxLength=100),
                      time_query("since"), time_query("until"), CURSOR, limit(50, billing_payments.MAX_PAGE))),
    Operation("GET", "/admin/payments/summary", "Money in and credits sold, per currency", PAYMENTS,
              response=b.PaymentSummary, permission="payments:read",
              params=(time_query("since"), time_query("until"))),
    Operation("GET", "/admin/payment-flags", "Users flagged by disputes, newest first", PAYMENTS,
              response=b.FlagPage, permission="payments:read",
              params=(query("user_id", "", type="string", maxLength=100), CURSOR, limit(50, flags.MAX_LIMIT))),
    Operation("POST", "/promo/redeem", "Redeem a promo code", PROMO, promo.RedeemRequest, b.Redeemed,
              permission="credits:read", errors=(404, 409, 410, 429)),
    Operation("POST", "/promo/codes", "Create a promo code", PROMO, promo_admin.PromoCreate, b.PromoCode, 201,
              permission=promo.MANAGE, errors=(409,)),
    Operation("GET", "/promo/codes", "Promo codes with their redemptions", PROMO, response=b.PromoCodeList,
              permission=promo.MANAGE,
              params=(query("active", "Only active (`true`) or inactive (`false`) codes.", type="string",
                            enum=["true", "false"]),)),
    Operation("GET", "/promo/codes/{code_id}", "One promo code", PROMO, response=b.PromoCode,
              params=(path("code_id"),), permission=promo.MANAGE, errors=(404,)),
    Operation("PUT", "/promo/codes/{code_id}", "Change a promo code", PROMO, promo_admin.PromoChanges, b.PromoCode,
              params=(path("code_id"),), permission=promo.MANAGE, errors=(404,)),
    Operation("DELETE", "/promo/codes/{code_id}", "Disable a promo code", PROMO, response=b.PromoCode,
              params=(path("code_id"),), permission=promo.MANAGE, errors=(404,),
              description="Its redemptions stay in the books."),
]
