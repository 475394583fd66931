"""`smarthub credits ...`: the operator's money commands.

Grants and deductions go through the ledger, each with an idempotency key (given, or made up for a
single run): run again with the same key, a command says the movement was already applied and
changes nothing. Every movement also leaves an audit row (actor: none, request id `cli`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import click
from sqlalchemy.exc import IntegrityError

from smarthub_mcp.billing.ledger import Entry, Ledger
from smarthub_mcp.billing.money import format_credits
from smarthub_mcp.billing.usage import recent_usage
from smarthub_mcp.cli.common import config_option, echo_table, handles_errors, load, run_async, with_db
from smarthub_mcp.credits import parse_credits
from smarthub_mcp.db import Database
from smarthub_mcp.errors import InsufficientCredits, InvalidRequest, NotFound
from smarthub_mcp.identity.audit import write_audit
from smarthub_mcp.identity.users import user_id_of
from smarthub_mcp.ids import new_id, utc_text

# Negative amounts read as arguments, not as unknown options ("-0.5"): then they get a clear answer.
AMOUNT_SETTINGS = {"ignore_unknown_options": True}


@click.group()
def credits() -> None:
    """Credits: grant, deduct, balance, history, usage, check."""


async def _user_id(db: Database, email: str) -> str:
    async with db.read() as conn:
        found = await user_id_of(conn, email=email.strip().lower())
    if found is None:
        raise NotFound(f"no user with email {email}")
    return found


def _amount(raw: str, *, negative_hint: str) -> int:
    try:
        micro = parse_credits(raw)
    except ValueError as exc:
        raise InvalidRequest(f"AMOUNT: {exc}") from None
    if micro <= 0:
        raise InvalidRequest(f"AMOUNT must be positive; {negative_hint}")
    return micro


@dataclass(frozen=True)
class Moved:
    entry: Entry
    repeated: bool  # the key was applied before: nothing changed now
    balance: int


async def _move(db: Database, email: str, micro: int, *, deduct: bool, reason: str, key: str | None) -> Moved:
    """Grant (or, `deduct`, take back) `micro` credits, once per idempotency key, with its audit row."""
    user_id = await _user_id(db, email)
    ledger = Ledger(db)
    idempotency_key = f"cli:{key or new_id('cli')}"
    for attempt in range(2):
        try:
            async with db.write() as conn:
                await ledger.open_account(user_id, conn=conn)
                repeated = await ledger.find_entry(idempotency_key, conn=conn) is not None
                # A repeat returns the first entry, checked to be the same movement (else IdempotencyConflict).
                if deduct:
                    entry = await ledger.adjust(user_id, -micro, reason=reason, actor_id=None,
                                                idempotency_key=idempotency_key, conn=conn)
                else:
                    entry = await ledger.grant(user_id, micro, kind="grant", idempotency_key=idempotency_key,
                                               memo=reason, conn=conn)
                if not repeated:
                    await write_audit(conn, actor_id=None, action="credits.deduct" if deduct else "credits.grant",
                                      target_id=user_id, before=None,
                                      after={"amount": format_credits(entry.amount), "reason": reason,
                                             "entry_id": entry.id}, ip=None, request_id="cli")
            break
        except IntegrityError:
            if attempt:  # the same key, applied by a command that ran at the same moment, is seen now
                raise
        except InsufficientCredits:
            available = (await ledger.balance(user_id)).available
            raise InsufficientCredits(
                f"cannot deduct {format_credits(micro)}: {email} has {format_credits(max(available, 0))} available"
                " (a deduction never takes the available balance below zero)",
                details={"available": format_credits(available), "required": format_credits(micro)},
            ) from None
    return Moved(entry, repeated, (await ledger.balance(user_id)).balance)


def _said(verb: str, email: str, key: str | None, moved: Moved) -> str:
    amount = format_credits(abs(moved.entry.amount))
    if moved.repeated:
        return (f"already {verb}: idempotency key {key!r} was applied before ({amount} for {email}, entry"
                f" {moved.entry.id}); nothing changed; balance {format_credits(moved.balance)}")
    return f"{verb} {amount} {'from' if verb == 'deducted' else 'to'} {email}; balance {format_credits(moved.balance)}"


@credits.command("grant", short_help="Give EMAIL AMOUNT credits (decimals allowed: 2.5).",
                 context_settings=AMOUNT_SETTINGS)
@click.argument("email")
@click.argument("amount")
@click.option("--reason", default="granted by an operator", help="Why (kept in the ledger and the audit log).")
@click.option("--idempotency-key", "key", default=None, help="Makes a repeated command grant once.")
@config_option
@handles_errors
def grant(email: str, amount: str, reason: str, key: str | None, config_path: str | None) -> None:
    """Give EMAIL AMOUNT credits (e.g. 2.5). To take credits away, use `credits deduct`."""
    micro = _amount(amount, negative_hint=f"to take credits away: smarthub credits deduct {email} "
                                          f"{amount.lstrip('-')} --reason '...'")
    moved = run_async(with_db(load(config_path), lambda db: _move(db, email, micro, deduct=False, reason=reason,
                                                                  key=key), ready=True))
    click.echo(_said("granted", email, key, moved))


@credits.command("deduct", short_help="Take AMOUNT credits from EMAIL (never below zero).",
                 context_settings=AMOUNT_SETTINGS)
@click.argument("email")
@click.argument("amount")
@click.option("--reason", required=True, help="Why (kept in the ledger and the audit log).")
@click.option("--idempotency-key", "key", default=None, help="Makes a repeated command deduct once.")
@config_option
@handles_errors
def deduct(email: str, amount: str, reason: str, key: str | None, config_path: str | None) -> None:
    """Take AMOUNT credits (e.g. 0.5) from EMAIL's available balance, as an adjustment entry. Refused,
    with nothing written, when EMAIL has less available: a deduction never goes below zero."""
    if not reason.strip():
        raise InvalidRequest("--reason must say why")
    micro = _amount(amount, negative_hint="give the amount to take away, e.g. 0.5")
    moved = run_async(with_db(load(config_path), lambda db: _move(db, email, micro, deduct=True, reason=reason,
                                                                  key=key), ready=True))
    click.echo(_said("deducted", email, key, moved))


@credits.command("balance")
@click.argument("email")
@config_option
@handles_errors
def balance(email: str, config_path: str | None) -> None:
    """Show EMAIL's balance, held and available credits."""

    async def go(db: Database) -> str:
        b = await Ledger(db).balance(await _user_id(db, email))
        return (f"balance {format_credits(b.balance)}\nheld {format_credits(b.held)}\n"
                f"available {format_credits(b.available)}")

    click.echo(run_async(with_db(load(config_path), go, ready=True)))


@credits.command("history")
@click.argument("email")
@click.option("--limit", type=click.IntRange(1, 1000), default=50)
@config_option
@handles_errors
def history(email: str, limit: int, config_path: str | None) -> None:
    """EMAIL's ledger entries, newest first (times in UTC)."""

    async def go(db: Database) -> list[tuple[object, ...]]:
        entries, _ = await Ledger(db).history(await _user_id(db, email), limit=limit)
        return [(utc_text(e.created_at), e.id, e.kind, format_credits(e.amount), format_credits(e.balance_after),
                 e.memo or "") for e in entries]

    echo_table(("TIME", "ID", "KIND", "AMOUNT", "BALANCE_AFTER", "MEMO"),
               run_async(with_db(load(config_path), go, ready=True)))


@credits.command("usage", short_help="EMAIL's metered calls, newest first (times in UTC).")
@click.argument("email")
@click.option("--limit", type=click.IntRange(1, 1000), default=50)
@config_option
@handles_errors
def usage(email: str, limit: int, config_path: str | None) -> None:
    """EMAIL's metered calls, newest first (times in UTC), with what each was charged."""

    async def go(db: Database) -> list[tuple[object, ...]]:
        async with db.read() as conn:
            rows = await recent_usage(conn, await _user_id(db, email), limit)
        return [(utc_text(r.created_at), r.tool, r.model or "-", r.status, r.error_code or "-", r.input_tokens,
                 r.output_tokens, format_credits(r.cost)) for r in rows]

    echo_table(("TIME", "TOOL", "MODEL", "STATUS", "ERROR", "INPUT_TOKENS", "OUTPUT_TOKENS", "CREDITS"),
               run_async(with_db(load(config_path), go, ready=True)))


@credits.command("check", short_help="Recompute every balance; exit 1 on any drift.")
@config_option
@handles_errors
def check(config_path: str | None) -> None:
    """Recompute every balance from its entries and holds; exit 1 on any drift."""

    async def go(db: Database) -> list:
        return await Ledger(db).check()

    drift = run_async(with_db(load(config_path), go, ready=True))
    for d in drift:
        click.echo(f"DRIFT {d.user_id}: balance {format_credits(d.balance)} vs entries "
                   f"{format_credits(d.entries_sum)}; held {format_credits(d.held)} vs open holds "
                   f"{format_credits(d.open_holds_sum)}")
    if drift:
        sys.exit(1)
    click.echo("no drift: every balance equals the sum of its entries")
