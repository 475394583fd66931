"""`smarthub`: serve, stdio, and the operator's commands (one module per command group).

Commands import the services they drive; nothing below the CLI imports it.
"""

from __future__ import annotations

import click

from smarthub_mcp import __version__
from smarthub_mcp.cli import credits, db, doctor, oauth, promo, server, users


@click.group()
@click.version_option(__version__, prog_name="smarthub")
def main() -> None:
    """SmartHub MCP: a credit-metered AI gateway that speaks MCP."""


@main.command()
def version() -> None:
    """Print the version."""
    click.echo(__version__)


main.add_command(server.serve)
main.add_command(server.stdio)
main.add_command(db.db)
main.add_command(credits.credits)
main.add_command(promo.promo)
main.add_command(oauth.oauth)
main.add_command(doctor.doctor)
users.register(main)

if __name__ == "__main__":
    main()
