"""`smarthub promo create|list|disable`: promo codes from the operator's shell."""

from __future__ import annotations

import json
from typing import Any

import click

from smarthub_mcp.billing import promo_admin
from smarthub_mcp.cli.common import config_option, handles_errors, run_with_services
from smarthub_mcp.errors import InvalidRequest
from smarthub_mcp.services import Services


@click.group()
def promo() -> None:
    """Promo codes: create, list, disable."""


@promo.command("create")
@click.option("--credits", "credits_", required=True, help="Credits per redemption, e.g. 10 or 2.5.")
@click.option("--code", default=None, help="The code (case-insensitive); default: a generated one.")
@click.option("--max-redemptions", type=int, default=None, help="Total redemptions allowed (default: unlimited).")
@click.option("--starts", default=None, help="ISO 8601 time the code becomes valid, e.g. 2026-01-01T00:00Z.")
@click.option("--expires", default=None, help="ISO 8601 time the code stops being valid.")
@click.option("--new-users-only", is_flag=True, help="Only for accounts younger than promo.new_user_days "
              "that never bought credits.")
@click.option("--description", default="", help="A note for admins.")
@config_option
@handles_errors
def create(credits_: str, code: str | None, max_redemptions: int | None, starts: str | None,
           expires: str | None, new_users_only: bool, description: str, config_path: str | None) -> None:
    """Create a promo code and print it."""
    from pydantic import ValidationError

    try:
        spec = promo_admin.PromoCreate(
            code=code, credits=credits_, max_redemptions=max_redemptions, starts_at=starts, expires_at=expires,
            new_users_only=new_users_only, description=description,
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidRequest(f"invalid promo code: {problems}") from None
    created = run_with_services(config_path, lambda s: promo_admin.create_code(s, spec, actor_id=None))
    click.echo(created["code"])


@promo.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include disabled codes.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@config_option
@handles_errors
def list_(show_all: bool, as_json: bool, config_path: str | None) -> None:
    """List promo codes with their redemption counts."""
    codes = run_with_services(config_path, lambda s: promo_admin.list_codes(s, active=None if show_all else True))
    if as_json:
        click.echo(json.dumps(codes, indent=2))
        return
    click.echo("CODE\tCREDITS\tREDEEMED\tMAX\tACTIVE\tCREDITS_GRANTED")
    for c in codes:
        a = c["analytics"]
        click.echo(f"{c['code']}\t{c['credits']}\t{a['redemptions']}\t{c['max_redemptions'] or '-'}\t"
                   f"{'yes' if c['active'] else 'no'}\t{a['credits_granted']}")


@promo.command("disable", short_help="Deactivate a code (its redemptions stay in the books).")
@click.argument("code")
@config_option
@handles_errors
def disable(code: str, config_path: str | None) -> None:
    """Deactivate a code (by code or id); its redemptions stay in the books."""

    async def go(services: Services) -> dict[str, Any]:
        code_id = await promo_admin.find_code_id(services, code)
        return await promo_admin.deactivate_code(services, code_id, actor_id=None)

    done = run_with_services(config_path, go)
    click.echo(f"disabled {done['code']}")
