"""`smarthub serve` (HTTP) and `smarthub stdio`."""

from __future__ import annotations

import logging
import os
import signal
import sys

import click

from smarthub_mcp import __version__
from smarthub_mcp.cli.common import (
    config_option,
    config_source,
    fail,
    handles_errors,
    load,
    require_existing_database,
    run_async,
)
from smarthub_mcp.db import Database


@click.command()
@click.option("--host", default=None, help="Interface to bind (default from config: 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port (default from config: 8000).")
@config_option
@handles_errors
def serve(host: str | None, port: int | None, config_path: str | None) -> None:
    """Run the HTTP server: MCP at /mcp, the API at /api/v1."""
    import uvicorn

    from smarthub_mcp.app import build_app
    from smarthub_mcp.cli.draining import DrainingServer
    from smarthub_mcp.migrations import ensure_ready

    config = load(config_path)
    server = config.settings.server
    bind_host, bind_port = host or server.host, port if port is not None else server.port
    if "public_base_url" not in server.model_fields_set:
        # Not set by the operator: the address actually served, so the OpenAPI servers URL, the
        # protected-resource metadata, WWW-Authenticate and emailed links point where we listen.
        shown = "127.0.0.1" if bind_host in ("0.0.0.0", "::", "") else bind_host  # noqa: S104
        server.public_base_url = f"http://{shown}:{bind_port}"
    db_probe = Database(config.secrets.database_url, pool_size=1)

    async def prepare() -> None:
        try:
            await ensure_ready(db_probe, auto_upgrade=db_probe.is_sqlite)
        finally:
            await db_probe.close()

    run_async(prepare())
    app = build_app(config, freeze_heap=True)
    click.echo(
        f"SmartHub MCP {__version__} on http://{bind_host}:{bind_port} "
        f"(MCP at /mcp, API at /api/v1, database: {db_probe.dialect}, config: {config_source(config)},"
        f" public URL: {server.public_base_url})",
        err=True,
    )
    # uvicorn re-raises the signal that stopped it once its shutdown is done, so that the handler
    # installed before it runs: the process would die of SIGTERM (exit 143 under Docker, a failed
    # unit for some supervisors) after a clean, graceful stop. This handler makes that stop exit 0.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    app.state.draining = False
    config_ = uvicorn.Config(
        app,
        host=bind_host,
        port=bind_port,
        log_config=None,
        access_log=False,
        lifespan="on",
        proxy_headers=True,
        forwarded_allow_ips=",".join(server.forwarded_allow_ips),
        # SIGTERM (a rolling restart): uvicorn closes the listening socket, closes idle keep-alive
        # connections, and waits this long for requests in flight; then it cancels them, and each
        # cancelled call's meter releases its hold before the lifespan closes the store.
        timeout_graceful_shutdown=server.shutdown_grace_seconds,
        # uvicorn's default (5 s) is below every proxy's idle timeout: a proxy could reuse a
        # connection at the moment it is closed here, and a POST written onto it is lost (502).
        timeout_keep_alive=server.keep_alive_seconds,
    )
    running = DrainingServer(config_, app=app, drain_seconds=server.shutdown_drain_seconds)
    try:
        running.run()
    except KeyboardInterrupt:  # Ctrl-C: uvicorn re-raises it once its shutdown is done (as uvicorn.run does)
        pass
    if not running.started:  # the app's start-up failed (its lifespan logged why): as uvicorn.run exits
        sys.exit(3)


@click.command(short_help="Serve MCP over stdio as the owner of $SMARTHUB_API_KEY.")
@config_option
@handles_errors
def stdio(config_path: str | None) -> None:
    """Serve the MCP tools over stdio, as the owner of $SMARTHUB_API_KEY (for Claude Desktop and friends)."""

    from smarthub_mcp.compose import build_services, close_services, serving
    from smarthub_mcp.errors import SmartHubError, Unauthenticated
    from smarthub_mcp.identity.principals import principal_for_api_key
    from smarthub_mcp.migrations import ensure_ready
    from smarthub_mcp.tools.server import build_mcp_server

    api_key = os.environ.get("SMARTHUB_API_KEY", "").strip()
    if not api_key:
        fail("SMARTHUB_API_KEY is not set: create one with `smarthub keys create EMAIL` and pass it in the environment")
    config = load(config_path)
    require_existing_database(config.secrets.database_url)
    services = build_services(config)

    async def go() -> None:
        try:
            await ensure_ready(services.db, auto_upgrade=services.db.is_sqlite)
            principal = await principal_for_api_key(services, api_key)
        except SmartHubError as exc:
            await close_services(services)
            fail("SMARTHUB_API_KEY is invalid, expired or revoked" if isinstance(exc, Unauthenticated)
                 else exc.message)
            return
        logging.getLogger("smarthub").info("stdio session for %s (%s)", principal.email, principal.role)
        mcp = build_mcp_server(services, api_key=api_key)
        async with serving(services):
            await mcp.run_stdio_async()

    run_async(go())
