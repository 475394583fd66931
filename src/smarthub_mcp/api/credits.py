"""Credit routes under /api/v1: a user's balance, history and usage; the admin's money tools.

Amounts go out as decimal credit strings ("12.500000") and come in the same way (or as numbers);
every admin action is written to `audit_log` in the same transaction as the money it moves.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from smarthub_mcp.api.authn import client_ip, require
from smarthub_mcp.api.body import read_json_value
from smarthub_mcp.api.params import int_param, time_param
from smarthub_mcp.billing import reports, usage
from smarthub_mcp.billing.ledger import Entry
from smarthub_mcp.billing.money import format_credits
from smarthub_mcp.credits import parse_credits
from smarthub_mcp.errors import InvalidRequest, NotFound
from smarthub_mcp.identity.audit import money_audit, write_audit
from smarthub_mcp.identity.users import user_id_of
from smarthub_mcp.ids import now_ms
from smarthub_mcp.safetext import spreadsheet_safe
from smarthub_mcp.services import Services

MAX_BULK = 1000
MAX_PAGE = 200
KINDS = {"grant", "purchase", "promo", "usage", "refund", "adjustment", "reversal"}


def entry_json(e: Entry) -> dict[str, Any]:
    return {
        "id": e.id, "amount": format_credits(e.amount), "kind": e.kind, "reference": e.reference, "memo": e.memo,
        "balance_after": format_credits(e.balance_after), "created_at": e.created_at,
    }


CSV_TEXT_COLUMNS = ("type", "email", "model", "kind", "day")
def parse_amount(value: Any) -> int:
    try:
        amount = parse_credits(value)
    except (ValueError, TypeError) as exc:
        raise InvalidRequest(f"amount: {exc}") from None
    if amount == 0:
        raise InvalidRequest("amount cannot be zero")
    return amount


async def json_body(request: Request) -> dict[str, Any]:
    body = await read_json_value(request)
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object")
    return body


def text_field(body: dict[str, Any], name: str, *, max_len: int = 500) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise InvalidRequest(f"{name} is required (text, at most {max_len} characters)")
    return value.strip()


async def balance(request: Request) -> JSONResponse:
    principal = await require(request, "credits:read")
    b = await request.app.state.services.ledger.balance(principal.user_id)
    return JSONResponse({"balance": format_credits(b.balance), "held": format_credits(b.held),
                         "available": format_credits(b.available)})


async def history(request: Request) -> JSONResponse:
    principal = await require(request, "credits:read")
    params = request.query_params
    kinds = [k for k in params.getlist("kind") if k] or None
    if kinds and not set(kinds) <= KINDS:
        raise InvalidRequest(f"kind must be one of {sorted(KINDS)}")
    entries, cursor = await request.app.state.services.ledger.history(
        principal.user_id, kinds=kinds, since_ms=time_param(request, "from"),
        until_ms=time_param(request, "to"), cursor=params.get("cursor") or None,
        limit=int_param(request, "limit", 50, low=1, high=MAX_PAGE),
    )
    return JSONResponse({"items": [entry_json(e) for e in entries], "next_cursor": cursor})


def time_range(request: Request, default_days: int = 30) -> tuple[int, int]:
    until = time_param(request, "to") or now_ms()
    since = time_param(request, "from") or until - default_days * usage.DAY_MS
    if since >= until:
        raise InvalidRequest("from must be before to")
    return since, until


async def stats(request: Request) -> JSONResponse:
    principal = await require(request, "credits:read")
    since, until = time_range(request)
    async with request.app.state.services.db.read() as conn:
        body = await usage.usage_stats(conn, principal.user_id, since, until)
    return JSONResponse({"from": since, "to": until, **body})


async def _target(conn: Any, body: dict[str, Any]) -> str:
    """The account an admin names, by `user_id` or `email`."""
    if isinstance(body.get("user_id"), str):
        value = body["user_id"]
        found = await user_id_of(conn, user_id=value)
    elif isinstance(body.get("email"), str):
        value = body["email"].strip().lower()
        found = await user_id_of(conn, email=value)
    else:
        raise InvalidRequest("name the user by user_id or email")
    if found is None:
        raise NotFound("no such user", details={"user": value})
    return found


async def adjust_one(services: Services, conn: Any, request: Request, actor: str, body: dict[str, Any],
                      action: str, reason: str | None = None) -> Entry:
    user_id = await _target(conn, body)
    amount = parse_amount(body.get("amount"))
    reason = reason or text_field(body, "reason")
    key = text_field(body, "idempotency_key", max_len=200)
    repeat = await services.ledger.find_entry(f"admin:{key}", conn=conn)
    before = await services.ledger.balance(user_id, conn=conn)
    entry = await services.ledger.adjust(user_id, amount, reason=reason, actor_id=actor,
                                         idempotency_key=f"admin:{key}", conn=conn)
    if repeat is None:  # a repeated request moved no money, so it is not a second action
        await write_audit(
            conn, actor_id=actor, action=action, target_id=user_id,
            before={"balance": format_credits(before.balance)},
            after={"balance": format_credits(entry.balance_after), "amount": format_credits(amount),
                   "reason": reason, "entry_id": entry.id},
            ip=client_ip(request), request_id=getattr(request.state, "request_id", None),
        )
    return entry


async def admin_adjust(request: Request) -> JSONResponse:
    principal = await require(request, "credits:adjust")
    body = await json_body(request)
    services: Services = request.app.state.services
    async with services.db.write() as conn:
        entry = await adjust_one(services, conn, request, principal.user_id, body, "credits.adjust")
    return JSONResponse(entry_json(entry))


async def admin_bulk(request: Request) -> JSONResponse:
    """Many adjustments in one transaction: all or nothing; each row idempotent by its own key."""
    principal = await require(request, "credits:adjust")
    body = await json_body(request)
    items = body.get("items")
    if not isinstance(items, list) or not items or len(items) > MAX_BULK:
        raise InvalidRequest(f"items must be a list of 1 to {MAX_BULK} adjustments")
    default_reason = body.get("reason") if isinstance(body.get("reason"), str) else None
    services: Services = request.app.state.services
    results = []
    async with services.db.write() as conn:
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise InvalidRequest(f"items[{i}] must be an object")
            reason = item.get("reason") if isinstance(item.get("reason"), str) else default_reason
            try:
                entry = await adjust_one(services, conn, request, principal.user_id, item, "credits.bulk",
                                          reason=(reason or "").strip() or None)
            except (InvalidRequest, NotFound) as exc:
                exc.details = {**exc.details, "item": i}
                raise
            results.append(entry_json(entry))
    return JSONResponse({"items": results})


async def admin_audit(request: Request) -> JSONResponse:
    await require(request, "reports:read")
    async with request.app.state.services.db.read() as conn:
        items, cursor = await money_audit(
            conn, request.query_params.get("cursor") or None, int_param(request, "limit", 50, low=1, high=MAX_PAGE)
        )
    return JSONResponse({"items": items, "next_cursor": cursor})


async def admin_report(request: Request) -> Response:
    await require(request, "reports:read")
    since, until = time_range(request)
    fmt = request.query_params.get("format", "json")
    if fmt not in ("json", "csv"):
        raise InvalidRequest("format must be json or csv")
    async with request.app.state.services.db.read() as conn:
        rows = await reports.admin_report(conn, since, until)
    if fmt == "json":
        return JSONResponse({"from": since, "to": until, "rows": rows})
    return report_csv(rows)


def report_csv(rows: list[dict[str, Any]]) -> Response:
    """The credit report as a CSV download (the dashboard's report page links one too)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["type", "email", "model", "kind", "day", "count", "amount"])
    writer.writeheader()
    writer.writerows({k: spreadsheet_safe(v) if k in CSV_TEXT_COLUMNS else v for k, v in r.items()} for r in rows)
    return Response(out.getvalue(), media_type="text/csv",
                    headers={"content-disposition": 'attachment; filename="credits-report.csv"'})


def routes() -> list[BaseRoute]:
    return [
        Route("/credits/balance", balance, methods=["GET"]),
        Route("/credits/history", history, methods=["GET"]),
        Route("/credits/stats", stats, methods=["GET"]),
        Route("/admin/credits/adjust", admin_adjust, methods=["POST"]),
        Route("/admin/credits/bulk", admin_bulk, methods=["POST"]),
        Route("/admin/credits/audit", admin_audit, methods=["GET"]),
        Route("/admin/credits/report", admin_report, methods=["GET"]),
    ]
