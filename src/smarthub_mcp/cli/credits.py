"""`smarthub credits ...`: the operator's money commands."""

from __future__ import annotations

import sys

import click
from sqlalchemy import text

from smarthub_mcp.billing.ledger import Ledger
from smarthub_mcp.billing.money import format_credits
from smarthub_mcp.billing.reports import write_audit
from smarthub_mcp.cli.common import config_option, handles_errors, load, run_async, with_db
from smarthub_mcp.credits import parse_credits
from smarthub_mcp.db import Database
from smarthub_mcp.errors import InvalidRequest, NotFound
from smarthub_mcp.ids import new_id


@click.group()
def credits() -> None:
    """Grant credits, read balances and history, check the books."""


async def _user_id(db: Database, email: str) -> str:
    async with db.read() as conn:
        sql = text("SELECT id FROM users WHERE email = :e")
        found = (await conn.execute(sql, {"e": email.strip().lower()})).scalar()
    if found is None:
        raise NotFound(f"no user with email {email}")
    return found


@credits.command("grant", short_help="Give EMAIL AMOUNT credits (decimals allowed: 2.5).")
@click.argument("email")
@click.argument("amount")
@click.option("--reason", default="granted by an operator", help="Why (kept in the ledger and the audit log).")
@click.option("--idempotency-key", "key", default=None, help="Makes a retried command grant once.")
@config_option
@handles_errors
def grant(email: str, amount: str, reason: str, key: str | None, config_path: str | None) -> None:
    """Give EMAIL AMOUNT credits (e.g. 2.5)."""
    try:
        micro = parse_credits(amount)
    except ValueError as exc:
        raise InvalidRequest(f"AMOUNT: {exc}") from None
    if micro <= 0:
        raise InvalidRequest("AMOUNT must be positive (use the admin API to take credits back)")

    async def go(db: Database) -> str:
        user_id = await _user_id(db, email)
        ledger = Ledger(db)
        async with db.write() as conn:
            await ledger.open_account(user_id, conn=conn)
            entry = await ledger.grant(user_id, micro, kind="grant", idempotency_key=f"cli:{key or new_id('cli')}",
                                       memo=reason, conn=conn)
            await write_audit(conn, actor_id=None, action="credits.grant", target_id=user_id, before=None,
                              after={"amount": format_credits(micro), "reason": reason, "entry_id": entry.id},
                              ip=None, request_id="cli")
        return format_credits(entry.balance_after)

    balance = run_async(with_db(load(config_path), go, ready=True))
    click.echo(f"granted {format_credits(micro)} to {email}; balance {balance}")


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
    """EMAIL's ledger entries, newest first."""

    async def go(db: Database) -> list[str]:
        entries, _ = await Ledger(db).history(await _user_id(db, email), limit=limit)
        return [f"{e.id}\t{e.kind}\t{format_credits(e.amount)}\t{format_credits(e.balance_after)}\t{e.memo or ''}"
                for e in entries]

    for line in run_async(with_db(load(config_path), go, ready=True)):
        click.echo(line)


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
