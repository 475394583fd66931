"""Errors of holds, payments and promo codes: one class per broken rule, each with its own stable code."""

from __future__ import annotations

from smarthub_mcp.errors import Conflict, Forbidden, InvalidRequest, LedgerError, NotFound, SmartHubError


class HoldExpired(LedgerError):
    """The sweeper expired the hold (its TTL passed) before it was captured: its funds are back."""

    code = "hold_expired"


class BalanceLimit(LedgerError):
    """A credit would take an account past `queries.MAX_BALANCE`; nothing was written."""

    code = "balance_limit"


class PaymentsUnavailable(SmartHubError):
    code = "payments_unavailable"
    status = 503


class UnknownPackage(NotFound):
    code = "unknown_package"


class PaymentProviderError(SmartHubError):
    """Stripe refused or failed; the message is ours, never Stripe's body."""

    code = "payment_provider_error"
    status = 502


class InvalidSignature(InvalidRequest):
    code = "invalid_signature"


class InvalidWebhookEvent(InvalidRequest):
    """A correctly signed body we cannot take (text the database cannot hold, absurd nesting)."""

    code = "invalid_webhook_event"


class PaymentMismatch(InvalidRequest):
    """A paid session whose amount or currency is not what the package costs."""

    code = "payment_mismatch"


class PromoError(SmartHubError):
    """Root of the refused-redemption errors; each subclass has its own code."""


class PromoNotFound(PromoError, NotFound):
    code = "promo_not_found"


class PromoExpired(PromoError):
    code = "promo_expired"
    status = 410


class PromoNotStarted(PromoError):
    code = "promo_not_started"
    status = 409


class PromoInactive(PromoError):
    code = "promo_inactive"
    status = 410


class PromoExhausted(PromoError):
    code = "promo_exhausted"
    status = 410


class PromoAlreadyRedeemed(PromoError, Conflict):
    code = "promo_already_redeemed"


class PromoNewUsersOnly(PromoError, Forbidden):
    code = "promo_new_users_only"


class PromoCodeTaken(Conflict):
    code = "promo_code_taken"
