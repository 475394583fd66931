"""A loopback fake of the Stripe API: Checkout Session create and retrieve, in Stripe's wire format.

It speaks what the `stripe` SDK sends and expects (form-encoded bodies with bracketed keys, bearer
auth, `Idempotency-Key`, JSON objects and Stripe's error shape), so the project's code runs through
the real SDK against it. Tests also use it to build the events Stripe would send (a completed
session, a refunded charge, a dispute) with the real object shapes.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.conftest import LiveServer

_KEY = re.compile(r"[^\[\]]+")


def parse_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """`line_items[0][price_data][currency]=usd` -> {"line_items": [{"price_data": {"currency": "usd"}}]}."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = _KEY.findall(key)
        node: Any = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt_is_index = not last and parts[i + 1].isdigit()
            if isinstance(node, list):
                idx = int(part)
                while len(node) <= idx:
                    node.append(None)
                if last:
                    node[idx] = value
                elif node[idx] is None:
                    node[idx] = [] if nxt_is_index else {}
                node = node[idx] if not last else node
            else:
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, [] if nxt_is_index else {})
    return root


def _error(status: int, message: str, *, type_: str = "invalid_request_error", code: str | None = None,
           param: str | None = None) -> JSONResponse:
    body = {"error": {"type": type_, "message": message, "code": code, "param": param,
                      "doc_url": "https://stripe.com/docs/error-codes"}}
    return JSONResponse(body, status_code=status, headers={"Request-Id": f"req_{secrets.token_hex(7)}"})


class FakeStripe:
    """State plus the ASGI app; `async with FakeStripe() as fake:` serves it on `fake.url`."""

    def __init__(self, api_key: str = "sk_test_fake") -> None:
        self.api_key = api_key
        self.sessions: dict[str, dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self._idempotent: dict[str, dict[str, Any]] = {}
        self.fail_next: tuple[int, str] | None = None
        self.app = Starlette(routes=[
            Route("/v1/checkout/sessions", self._create, methods=["POST"]),
            Route("/v1/checkout/sessions/{sid}", self._retrieve, methods=["GET"]),
            Route("/v1/balance", self._balance, methods=["GET"]),
        ])
        self._server: LiveServer | None = None
        self.url = ""

    async def __aenter__(self) -> FakeStripe:
        self._server = LiveServer(self.app)
        await self._server.__aenter__()
        self.url = self._server.url
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        await self._server.__aexit__(*exc)

    def _authorized(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.api_key}"

    async def _balance(self, request: Request) -> JSONResponse:
        """The free, read-only call `smarthub doctor --online` makes to check the key."""
        if not self._authorized(request):
            return _error(401, "Invalid API Key provided", type_="invalid_request_error")
        return JSONResponse({"object": "balance", "livemode": False, "available": [], "pending": []})

    async def _create(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return _error(401, "Invalid API Key provided", type_="invalid_request_error")
        if self.fail_next is not None:
            status, message = self.fail_next
            self.fail_next = None
            return _error(status, message, type_="api_error")
        form = await request.form()
        params = parse_form([(k, str(v)) for k, v in form.multi_items()])
        self.requests.append({"headers": dict(request.headers), "params": params})
        key = request.headers.get("idempotency-key")
        if key and key in self._idempotent:
            return JSONResponse(self._idempotent[key], headers={"Idempotent-Replayed": "true"})
        for required in ("success_url", "mode", "line_items"):
            if required not in params:
                return _error(400, f"Missing required param: {required}.", code="parameter_missing", param=required)
        if params["mode"] != "payment":
            return _error(400, "Invalid mode", code="parameter_invalid", param="mode")
        total = 0
        currency = None
        for item in params["line_items"]:
            price = item["price_data"]
            total += int(price["unit_amount"]) * int(item.get("quantity", 1))
            currency = price["currency"]
        sid = f"cs_test_{secrets.token_hex(12)}"
        now = int(time.time())
        session = {
            "id": sid, "object": "checkout.session", "mode": "payment", "status": "open",
            "payment_status": "unpaid", "amount_subtotal": total, "amount_total": total, "currency": currency,
            "client_reference_id": params.get("client_reference_id"), "metadata": params.get("metadata", {}),
            "url": f"https://checkout.stripe.com/c/pay/{sid}", "payment_intent": None, "customer": None,
            "livemode": False, "created": now, "expires_at": now + 86400,
            "success_url": params["success_url"], "cancel_url": params.get("cancel_url"),
        }
        self.sessions[sid] = session
        if key:
            self._idempotent[key] = session
        return JSONResponse(session)

    async def _retrieve(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return _error(401, "Invalid API Key provided")
        session = self.sessions.get(request.path_params["sid"])
        if session is None:
            return _error(404, "No such checkout.session", code="resource_missing", param="id")
        return JSONResponse(session)

    # --- what Stripe would send back to us ----------------------------------------------------

    def complete(self, sid: str, *, paid: bool = True, amount_total: int | None = None,
                 currency: str | None = None) -> dict[str, Any]:
        """The customer finished checkout: the session as `checkout.session.completed` carries it."""
        session = self.sessions[sid]
        session.update(status="complete", payment_status="paid" if paid else "unpaid",
                       payment_intent=session["payment_intent"] or f"pi_{secrets.token_hex(12)}")
        body = dict(session)
        if amount_total is not None:
            body["amount_total"] = amount_total
        if currency is not None:
            body["currency"] = currency
        return body

    def charge(self, sid: str, *, amount_refunded: int = 0) -> dict[str, Any]:
        session = self.sessions[sid]
        amount = session["amount_total"]
        return {"id": f"ch_{sid[-12:]}", "object": "charge", "amount": amount, "amount_refunded": amount_refunded,
                "refunded": amount_refunded >= amount, "currency": session["currency"],
                "payment_intent": session["payment_intent"], "status": "succeeded"}

    def dispute(
        self, sid: str, *, amount: int | None = None, status: str = "needs_response", dispute_id: str | None = None
    ) -> dict[str, Any]:
        session = self.sessions[sid]
        return {"id": dispute_id or f"dp_{secrets.token_hex(8)}", "object": "dispute",
                "amount": session["amount_total"] if amount is None else amount,
                "charge": f"ch_{sid[-12:]}", "currency": session["currency"],
                "payment_intent": session["payment_intent"], "reason": "fraudulent", "status": status,
                "evidence_details": {"due_by": int(time.time()) + 7 * 86400, "has_evidence": False,
                                     "past_due": False, "submission_count": 0}}


def event(type_: str, obj: dict[str, Any], *, event_id: str | None = None) -> str:
    """A Stripe event envelope around `obj`, serialized as Stripe sends it."""
    return json.dumps({
        "id": event_id or f"evt_{secrets.token_hex(12)}", "object": "event", "api_version": "2026-10-28.endive",
        "created": int(time.time()), "livemode": False, "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None}, "type": type_, "data": {"object": obj},
    })
