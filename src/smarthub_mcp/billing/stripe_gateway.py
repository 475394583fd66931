"""The Stripe adapter: Checkout Sessions through the official SDK, and webhook signature checks.

Nothing else in the project imports `stripe`. The API base is configurable (tests point it at a
loopback fake; operators may use stripe-mock); keys come from the environment only and never
reach a response or a log line. Stripe's errors become our own with safe messages.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import stripe

from smarthub_mcp.billing.errors import InvalidSignature, InvalidWebhookEvent, PaymentProviderError, PaymentsUnavailable
from smarthub_mcp.config import AppConfig, PackageConfig
from smarthub_mcp.safetext import find_flaw

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
        """Check the `Stripe-Signature` header against the raw body; return the event as plain data."""
        if not self._webhook_secret:
            raise PaymentsUnavailable("Stripe webhooks are not configured on this server (STRIPE_WEBHOOK_SECRET).")
        if not signature:
            raise InvalidSignature("missing Stripe-Signature header")
        try:
            # The SDK checks the HMAC and that the timestamp is not older than `tolerance`; we parse
            # the verified bytes ourselves so the handler works on plain dicts, not SDK objects.
            stripe.Webhook.construct_event(payload, signature, self._webhook_secret, tolerance=tolerance)
            data = json.loads(payload)
        except stripe.SignatureVerificationError:
            raise InvalidSignature("the webhook signature does not verify") from None
        except RecursionError:
            raise InvalidWebhookEvent("the webhook body is nested too deeply") from None
        except ValueError:
            raise InvalidSignature("the webhook body is not valid JSON") from None
        except (AttributeError, TypeError, KeyError):  # signed JSON that is not an object: the SDK trips on it
            raise InvalidSignature("the webhook body is not a Stripe event") from None
        if _signed_at(signature) > time.time() + tolerance:
            # A replay window both ways: a body signed "in the future" would stay valid for as long.
            raise InvalidSignature("the webhook timestamp is in the future")
        if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not isinstance(data.get("type"), str):
            raise InvalidSignature("the webhook body is not a Stripe event")
        found = find_flaw(data)
        if found is not None:
            problem, where = found
            raise InvalidWebhookEvent(f"the event holds {problem} (at {where[:100] or 'the top'})")
        return data


def _signed_at(header: str) -> int:
    """The `t=` timestamp of a Stripe-Signature header the SDK has already verified."""
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit():
            return int(value)
    return 0
