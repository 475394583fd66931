"""What a verified Stripe event must look like before a handler reads it.

A valid signature says who sent the bytes, not that they are an event we can take: a body signed
with our secret can still hold a NUL, a lone surrogate, nesting deeper than the parser allows, an
id longer than a database index holds, or an amount that is not a number. Each is refused here
with `invalid_webhook_event` (400), naming the field but never echoing the body, before anything
is stored. The models hold only the fields the handlers read, with the types Stripe documents;
every other field passes through unchecked.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from smarthub_mcp.billing.errors import InvalidWebhookEvent
from smarthub_mcp.safetext import find_flaw

Id = Annotated[str, Field(min_length=1, max_length=255)]  # Stripe's ids are far shorter; 255 fits any index
Word = Annotated[str, Field(max_length=100)]
Minor = Annotated[int, Field(ge=0)]  # an amount in the currency's minor unit


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


M = TypeVar("M", bound=_Model)


class _Data(_Model):
    object: dict[str, Any]


class _Envelope(_Model):
    id: Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_-]+$")]
    type: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[a-z0-9_.]+$")]
    data: _Data


class _Session(_Model):
    id: Id
    payment_intent: Id | None = None
    payment_status: Word | None = None
    amount_total: Minor | None = None
    currency: Word | None = None
    client_reference_id: Id | None = None
    metadata: dict[str, Annotated[str, Field(max_length=500)]] | None = None


class _Charge(_Model):
    payment_intent: Id | None = None
    amount_refunded: Minor | None = None


class _Dispute(_Model):
    id: Id
    payment_intent: Id | None = None
    amount: Minor | None = None
    status: Word | None = None
    reason: Word | None = None


_OBJECTS: tuple[tuple[str, type[_Model]], ...] = (
    ("checkout.session.", _Session),
    ("charge.refunded", _Charge),
    ("charge.dispute.", _Dispute),
)
# Names a refusal may show: our models' fields, never a key that came only from the body.
_NAMES = frozenset({"data", "object"}).union(*(m.model_fields for m in (_Envelope, _Session, _Charge, _Dispute)))


def parse_event(body: str) -> dict[str, Any]:
    """The event in `body` (already verified) as plain data, or InvalidWebhookEvent."""
    try:
        data = json.loads(body)
    except RecursionError:
        raise InvalidWebhookEvent("the webhook body is nested too deeply") from None
    except ValueError:
        raise InvalidWebhookEvent("the webhook body is not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidWebhookEvent("the webhook body is not a Stripe event")
    found = find_flaw(data)
    if found is not None:
        problem, path = found
        raise _refused(f"the event holds {problem}", path.split(".") if path else [])
    envelope = _checked(_Envelope, data, [])
    for prefix, model in _OBJECTS:
        if envelope.type.startswith(prefix):
            _checked(model, envelope.data.object, ["data", "object"])
            break
    return data


def _checked(model: type[M], value: dict[str, Any], at: list[str]) -> M:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        path = [*at, *(str(part) for part in error["loc"])]
        raise _refused(f"the event is not what Stripe sends ({error['type']})", path) from None


def _refused(problem: str, path: list[str]) -> InvalidWebhookEvent:
    """The error for a field: its path up to the first name that is not ours (the body is never shown)."""
    shown: list[str] = []
    for part in path:
        if part not in _NAMES:
            shown.append("*")
            break
        shown.append(part)
    field = ".".join(shown) or "(root)"
    return InvalidWebhookEvent(f"{problem} at {field}", details={"field": field})
