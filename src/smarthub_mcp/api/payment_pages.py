"""The pages Stripe Checkout returns the user to: the default `[payments] success_url` and `cancel_url`.

They only say what happened. Credits come from Stripe's signed webhook, never from a redirect:
anyone can open `/payments/success`, so it reads no parameter (not even the `session_id` Stripe
appends) and grants nothing.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from smarthub_mcp.api.html import page, paragraph


async def success(request: Request) -> HTMLResponse:
    return page(
        "Payment received",
        paragraph("Thank you. Your credits appear on your balance when Stripe confirms the payment: "
                  "for most cards within a minute, for some payment methods a few days later.")
        + '<p><a href="/dashboard/credits">See your credits and purchases</a> or close this page.</p>',
    )


async def cancel(request: Request) -> HTMLResponse:
    return page(
        "Payment cancelled",
        paragraph("No charge was made. You can start a new purchase whenever you like.")
        + '<p><a href="/dashboard/credits">Back to your credits</a> or close this page.</p>',
    )


routes = [
    Route("/payments/success", success, methods=["GET"]),
    Route("/payments/cancel", cancel, methods=["GET"]),
]
