"""Account tools: models and prices, balance, recent usage, promo codes and top-ups. Free of charge,
but authorized and rate limited like every tool."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from smarthub_mcp.billing.money import format_credits
from smarthub_mcp.billing.pricing import describe
from smarthub_mcp.billing.usage import recent_usage
from smarthub_mcp.tools.chat import people
from smarthub_mcp.tools.registry import ACCOUNT_CHANGE, READ_ONLY, ToolContext, tool


class ModelEntry(BaseModel):
    name: str
    kind: str = Field(description="chat, image or video")
    description: str
    available: bool
    reason: str | None = Field(description="Why the model is unavailable, when it is.")
    max_output_tokens: int | None = None
    price: dict[str, object] = Field(description="Prices in credits, as decimal strings.")


class ModelList(BaseModel):
    models: list[ModelEntry]


def price_text(price: dict[str, Any]) -> str:
    """A model's price as people read it: "0.5 credits per million input tokens, 1.5 per million
    output tokens" (from `describe`'s decimal strings)."""
    parts = []
    if "input_per_million" in price:
        parts.append(f"{people(price['input_per_million'])} per million input tokens, "
                     f"{people(price['output_per_million'])} per million output tokens")
    for key, unit in (("per_image", "image"), ("per_second", "second")):
        for size, amount in (price.get(key) or {}).items():
            parts.append(f"{people(amount)} per {unit} ({size})")
    if "per_call_minimum" in price:
        parts.append(f"at least {people(price['per_call_minimum'])} a call")
    if "markup_percent" in price:
        parts.append(f"plus {price['markup_percent']}%")
    return "; ".join(parts) or "free"


def _models_summary(out: ModelList) -> str:
    lines = []
    for m in out.models:
        state = "available" if m.available else f"unavailable ({m.reason})"
        lines.append(f"- {m.name} [{m.kind}] {state}: {m.description} Price: {price_text(m.price)}")
    return "Models:\n" + "\n".join(lines)


@tool(
    name="list_models",
    title="List models and prices",
    permission="credits:read",
    paid=False,
    annotations=READ_ONLY,
    summarize=_models_summary,
)
async def list_models(tc: ToolContext) -> ModelList:
    """List the AI models this server offers: public name, kind (chat, image, video), whether each is
    available right now (and why not), and its price in credits (per million tokens, per image or per
    second of video). Free."""
    settings = tc.services.settings
    entries = [
        ModelEntry(
            name=info.name,
            kind=info.kind,
            description=info.description,
            available=info.available,
            reason=info.reason,
            max_output_tokens=info.max_output_tokens,
            price=describe(settings.models[info.name].price),
        )
        for info in tc.services.router.list_models()
    ]
    return ModelList(models=entries)


class BalanceOut(BaseModel):
    balance: str = Field(description="Credits in the account, as a decimal string.")
    held: str = Field(description="Credits reserved by calls in progress.")
    available: str = Field(description="Credits that can be spent now.")


@tool(
    name="get_balance",
    title="Show my credit balance",
    permission="credits:read",
    paid=False,
    annotations=READ_ONLY,
    summarize=lambda b: f"Balance: {people(b.balance)} ({people(b.available)} available, {people(b.held)} held).",
)
async def get_balance(tc: ToolContext) -> BalanceOut:
    """Show the caller's credit balance: total, held by calls in progress, and available to spend. Free."""
    bal = await tc.services.ledger.balance(tc.principal.user_id)
    return BalanceOut(
        balance=format_credits(bal.balance), held=format_credits(bal.held), available=format_credits(bal.available)
    )


class UsageRow(BaseModel):
    at: int = Field(description="When, in milliseconds since the epoch (UTC).")
    tool: str
    model: str | None
    provider: str | None
    status: str = Field(description="ok, error, rejected or cancelled")
    error_code: str | None
    input_tokens: int
    output_tokens: int
    credits: str = Field(description="Credits charged, as a decimal string.")


class UsageOut(BaseModel):
    calls: list[UsageRow]
    total_spent: str = Field(description="Credits charged over the calls listed.")


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _usage_summary(out: UsageOut) -> str:
    if not out.calls:
        return "No calls yet."
    lines = [
        f"- {_when(r.at)} {r.tool} {r.model or ''} {r.status}{' ' + r.error_code if r.error_code else ''}:"
        f" {people(r.credits)}"
        for r in out.calls
    ]
    return f"Last {len(out.calls)} calls, {people(out.total_spent)} in all:\n" + "\n".join(lines)


@tool(
    name="get_usage",
    title="Show my recent usage",
    permission="credits:read",
    paid=False,
    annotations=READ_ONLY,
    summarize=_usage_summary,
)
async def get_usage(
    tc: ToolContext, limit: Annotated[int, Field(ge=1, le=100, description="How many recent calls to show.")] = 20
) -> UsageOut:
    """Show the caller's most recent tool calls with their model, outcome, tokens and credits charged. Free."""
    async with tc.services.db.read() as conn:
        rows = await recent_usage(conn, tc.principal.user_id, limit)
    calls = [
        UsageRow(
            at=r[0], tool=r[1], model=r[2], provider=r[3], status=r[4], error_code=r[5],
            input_tokens=r[6], output_tokens=r[7], credits=format_credits(r[8]),
        )
        for r in rows
    ]
    return UsageOut(calls=calls, total_spent=format_credits(sum(r[8] for r in rows)))


class RedeemOut(BaseModel):
    code: str
    credits_added: str = Field(description="Credits the code added, as a decimal string.")
    balance: str = Field(description="The balance after redeeming, as a decimal string.")


@tool(
    name="redeem_promo",
    title="Redeem a promo code",
    permission="credits:read",
    paid=False,
    annotations=ACCOUNT_CHANGE,
    summarize=lambda r: f"Code {r.code} redeemed: {people(r.credits_added)} added; balance {people(r.balance)}.",
)
async def redeem_promo(
    tc: ToolContext, code: Annotated[str, Field(min_length=1, max_length=64, description="The promo code.")]
) -> RedeemOut:
    """Redeem a promo code for free credits. Codes are case-insensitive and each works once per account;
    an expired, exhausted or unknown code is refused with its own error code."""
    from smarthub_mcp.billing import promo

    redemption = await promo.redeem(tc.services, tc.principal, code)
    return RedeemOut(
        code=redemption.code,
        credits_added=format_credits(redemption.credits),
        balance=format_credits(redemption.balance),
    )


class Package(BaseModel):
    id: str
    name: str
    credits: str
    price: str = Field(description="Price for people, e.g. '10.00 USD'.")


class CheckoutOut(BaseModel):
    packages: list[Package] = Field(description="Every credit package for sale.")
    available: bool = Field(description="Whether credits can be bought here now.")
    unavailable_reason: str | None = Field(
        default=None, description="Why credits cannot be bought (no packages, or payments not set up)."
    )
    package_id: str | None = Field(description="The package a checkout was opened for, if any.")
    checkout_url: str | None = Field(description="Open this link to pay; credits arrive when payment completes.")


def _checkout_summary(out: CheckoutOut) -> str:
    if not out.available:
        listing = "\n".join(f"- {p.id}: {p.name} ({people(p.credits)}) for {p.price}" for p in out.packages)
        return f"{out.unavailable_reason}" + (f"\nPackages (not for sale now):\n{listing}" if listing else "")
    listing = "\n".join(f"- {p.id}: {p.name} ({people(p.credits)}) for {p.price}" for p in out.packages)
    if out.checkout_url:
        return f"Pay for {out.package_id} here: {out.checkout_url}\nCredits are added once payment completes."
    return f"Credit packages:\n{listing}\nCall buy_credits with a package_id to get a payment link."


@tool(
    name="buy_credits",
    title="Buy credits",
    permission="credits:read",
    paid=False,
    annotations=ACCOUNT_CHANGE,
    summarize=_checkout_summary,
)
async def buy_credits(
    tc: ToolContext,
    package_id: Annotated[
        str | None, Field(max_length=64, description="The package to buy; leave out to list the packages.")
    ] = None,
) -> CheckoutOut:
    """List the credit packages for sale, or, with `package_id`, open a secure Stripe checkout for one and
    return its payment link. Give the link to the user; credits are added when the payment completes."""
    from smarthub_mcp.billing import payments

    packages = [Package(**{k: v for k, v in p.items() if k in Package.model_fields})
                for p in payments.list_packages(tc.services.settings)]
    if package_id is None:
        reason = unavailable_reason(bool(packages), tc.services.stripe.configured)
        return CheckoutOut(packages=packages, available=reason is None, unavailable_reason=reason,
                           package_id=None, checkout_url=None)
    checkout = await payments.create_checkout(tc.services, tc.principal, package_id)
    return CheckoutOut(packages=packages, available=True, package_id=checkout.package.id, checkout_url=checkout.url)


def unavailable_reason(has_packages: bool, stripe_configured: bool) -> str | None:
    """Why nothing can be bought, in words for the user (and the operator they will ask)."""
    missing = [what for what, ok in (("no credit packages ([[packages]] in config.toml)", has_packages),
                                     ("no Stripe key (STRIPE_API_KEY)", stripe_configured)) if not ok]
    if not missing:
        return None
    return (f"Buying credits is not available on this server: the operator has configured {' and '.join(missing)}."
            " Ask them to set it up, or redeem a promo code with redeem_promo.")
