"""The Stripe adapter: Checkout Sessions through the official SDK, and webhook signature checks.

Nothing else in the project imports `stripe`. The API base is configurable (tests point it at a
loopback fake; operators may use stripe-mock); keys come from the environment only and never
reach a response or a log line. Stripe's errors become our own with safe messages.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import stripe

from smarthub_mcp.billing.errors import InvalidSignature, PaymentProviderError, PaymentsUnavailable
from smarthub_mcp.billing.stripe_events import parse_event
from smarthub_mcp.config import AppConfig, PackageConfig

log = logging.getLogger("smarthub.payments.stripe")


@dataclass(frozen=True, slots=True)
class CheckoutSession:
    id: str
    url: str
    amount_total: int | None
    currency: str | None


class StripeGateway:
    def __init__(self, config: AppConfig) -> None:
        self._api_key = config.secrets.stripe_api_key
        self._webhook_secret = config.secrets.stripe_webhook_secret
        self._payments = config.settings.payments
        self._client: stripe.StripeClient | None = None

    @property
    def configured(self) -> bool:
        return bool(self._api_key)

    def ensure_configured(self) -> None:
        if not self._api_key:
            raise PaymentsUnavailable(
                "Buying credits is not available on this server: the operator has not configured Stripe "
                "(STRIPE_API_KEY)."
            )

    def _stripe(self) -> stripe.StripeClient:
        self.ensure_configured()
        if self._client is None:
            base = self._payments.stripe_api_base
            assert self._api_key is not None  # ensure_configured
            self._client = stripe.StripeClient(
                self._api_key,
                base_addresses={"api": base} if base else None,
                http_client=stripe.HTTPXClient(),  # one client for the SDK's sync and async paths
                max_network_retries=2,  # the SDK reuses the idempotency key on its retries
            )
        return self._client

    async def create_checkout_session(
        self,
        *,
        payment_id: str,
        user_id: str,
        email: str | None,
        package: PackageConfig,
    ) -> CheckoutSession:
        """One Checkout Session in payment mode for one package; `payment_id` is the idempotency key."""
        params: dict[str, Any] = {
            "mode": "payment",
            "success_url": self._payments.success_url,
            "cancel_url": self._payments.cancel_url,
            "client_reference_id": user_id,
            "metadata": {"payment_id": payment_id, "user_id": user_id, "package_id": package.id},
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": package.currency.lower(),
                        "unit_amount": package.price_minor,
                        "product_data": {"name": package.name},
                    },
                }
            ],
        }
        if email:
            params["customer_email"] = email
        try:
            session = await self._stripe().v1.checkout.sessions.create_async(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": f"checkout-{payment_id}"},
            )
        except stripe.StripeError as exc:
            log.warning("stripe refused a checkout session: %s (http %s)", type(exc).__name__, exc.http_status)
            raise PaymentProviderError("The payment provider could not start a checkout; please try again.") from None
        if not session.url:
            raise PaymentProviderError("The payment provider returned no checkout URL.")
        return CheckoutSession(
            id=session.id, url=session.url, amount_total=session.amount_total, currency=session.currency
        )

    def verify_event(self, payload: bytes, signature: str | None, *, tolerance: int) -> dict[str, Any]:
        """Check the `Stripe-Signature` header against the raw body; return the event as plain data.

        Refused with `invalid_signature`: no or a wrong signature, a timestamp more than `tolerance`
        seconds away from our clock either way. Refused with `invalid_webhook_event`: a correctly
        signed body that is not an event we can take (see stripe_events.py)."""
        if not self._webhook_secret:
            raise PaymentsUnavailable("Stripe webhooks are not configured on this server (STRIPE_WEBHOOK_SECRET).")
        if not signature:
            raise InvalidSignature("missing Stripe-Signature header")
        try:
            body = payload.decode("utf-8")  # the signature covers the text; bytes that are not text cannot verify
        except UnicodeDecodeError:
            raise InvalidSignature("the webhook body is not UTF-8 text") from None
        try:
            # The SDK checks the HMAC and that the timestamp is not older than `tolerance`; the event
            # is parsed by us, from the verified text, into plain dicts rather than SDK objects.
            stripe.WebhookSignature.verify_header(body, signature, self._webhook_secret, tolerance)
        except stripe.SignatureVerificationError:
            raise InvalidSignature("the webhook signature does not verify") from None
        if _signed_at(signature) > time.time() + tolerance:
            # A replay window both ways: a body signed "in the future" would stay valid for as long.
            raise InvalidSignature("the webhook timestamp is in the future")
        return parse_event(body)


def _signed_at(header: str) -> int:
    """The `t=` timestamp of a Stripe-Signature header the SDK has just verified, read exactly as
    the SDK reads it (the first `t` item, through `int`, which also takes `+123` and `1_700`), so
    no spelling of the timestamp passes the SDK's check and escapes this one."""
    items = [item.split("=", 2) for item in header.split(",")]
    return int(next(item[1] for item in items if item[0] == "t"))
