"""`smarthub doctor`: what in this deployment is missing or unreachable, and how to fix it.

One line per finding (`ok`, `warn`, `FAIL`, the part checked, what was found), and under each
problem the fix. Exit code 1 when anything failed, 0 otherwise (warnings included).
"""

from __future__ import annotations

import sys

import click

from smarthub_mcp.cli.common import config_option, load, run_async
from smarthub_mcp.cli.doctor_checks import (
    Finding,
    check_config,
    check_database,
    check_providers,
    check_redis,
    check_smtp,
    check_storage,
    check_stripe,
)
from smarthub_mcp.config import AppConfig
from smarthub_mcp.errors import SmartHubError

LABELS = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}


@click.command(short_help="Check the configuration and everything it points at.")
@click.option("--replicas", type=click.IntRange(1, 1000), default=1, show_default=True,
              help="How many replicas will share the database (for the PostgreSQL connection budget).")
@click.option("--online", is_flag=True,
              help="Also make one free call to each provider and to Stripe to check their keys.")
@config_option
def doctor(replicas: int, online: bool, config_path: str | None) -> None:
    """Check the configuration, database (reachable, migrated, connection budget), Redis, SMTP,
    Stripe, media storage and each provider's key; print every problem with its fix. Exit code 1
    when something is missing."""
    try:
        config = load(config_path)
    except SmartHubError as exc:
        _show(Finding("fail", "config", exc.message, "correct the setting named above (in the file or the"
                      " SMARTHUB_<SECTION>__<KEY> variable)"))
        sys.exit(1)
    findings = run_async(_run(config, replicas=replicas, online=online))
    for finding in findings:
        _show(finding)
    failed = sum(f.status == "fail" for f in findings)
    warned = sum(f.status == "warn" for f in findings)
    click.echo(f"{failed} problem(s), {warned} warning(s)")
    sys.exit(1 if failed else 0)


async def _run(config: AppConfig, *, replicas: int, online: bool) -> list[Finding]:
    return [
        *check_config(config),
        *await check_database(config, replicas=replicas),
        *await check_redis(config, replicas=replicas),
        *await check_smtp(config),
        *await check_stripe(config, online=online),
        *await check_storage(config),
        *await check_providers(config, online=online),
    ]


def _show(finding: Finding) -> None:
    click.echo(f"{LABELS[finding.status]}  {finding.check}: {finding.message}")
    if finding.fix:
        click.echo(f"      fix: {finding.fix}")
