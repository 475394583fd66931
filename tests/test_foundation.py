"""The spine: config, store, migrations, app, error shape, CLI."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from smarthub_mcp.config import load_config
from smarthub_mcp.credits import parse_credits
from smarthub_mcp.db import Database
from smarthub_mcp.errors import ConfigError
from smarthub_mcp.migrations import applied_versions, available, select_dialect, split_statements, upgrade
from tests.conftest import TEST_JWT_SECRET

ROOT = Path(__file__).resolve().parents[1]


# --- config ------------------------------------------------------------------------------------


def test_credits_are_parsed_exactly():
    assert parse_credits("1.5") == 1_500_000
    assert parse_credits(2) == 2_000_000
    assert parse_credits(0.1) == 100_000
    assert parse_credits("0.000001") == 1
    with pytest.raises(ValueError):
        parse_credits("0.0000001")
    with pytest.raises(ValueError):
        parse_credits("NaN")
    with pytest.raises(ValueError):
        parse_credits(True)
    # Exponents past what Decimal's arithmetic can scale (decimal.Overflow, or an underflow to 0).
    for huge in ("1e999999", "-1E+999999", "9" * 5000, 1e308):
        with pytest.raises(ValueError, match="at most 1,000,000,000 credits"):
            parse_credits(huge)
    with pytest.raises(ValueError, match="at most 6 decimal places"):
        parse_credits("1e-9999999999")
    assert parse_credits("1e9") == 1_000_000_000 * 1_000_000 and parse_credits("0e-9999999999") == 0
    # Plain ASCII numerals, trimmed: not what Decimal alone would also take.
    assert parse_credits(" 2 ") == 2_000_000 and parse_credits(".5") == 500_000
    for odd in ("\u0661", "\u0967.5", "1_000", "1,5", "0x10", "inf", "", "1 000"):
        with pytest.raises(ValueError, match="not a credit amount"):
            parse_credits(odd)


def test_environment_overrides_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[server]\nport = 9001\nhost = "0.0.0.0"\n')
    cfg = load_config(path, env={"SMARTHUB_SERVER__PORT": "9002"})
    assert cfg.settings.server.port == 9002
    assert cfg.settings.server.host == "0.0.0.0"


def test_list_and_table_overrides_take_json():
    cfg = load_config(env={
        "SMARTHUB_SERVER__ALLOWED_HOSTS": '["smarthub.example.com"]',
        "SMARTHUB_LIMITS__USERS": '{"ann@example.com": {"requests_per_minute": 10}}',
    })
    assert cfg.settings.server.allowed_hosts == ["smarthub.example.com"]
    assert cfg.settings.limits.users["ann@example.com"].requests_per_minute == 10


@pytest.mark.parametrize(
    ("toml", "env", "fragment"),
    [
        ("[server]\nport = 'abc'\n", {}, "server.port"),
        ("[server]\nprot = 1\n", {}, "server.prot: unknown key"),
        ("[nonsense]\nx = 1\n", {}, "nonsense: unknown key"),
        ("not = [valid", {}, "not valid TOML"),
        ("", {"SMARTHUB_AUTH__ACCESS_TOKEN_TTL_SECONDS": "soon"}, "auth.access_token_ttl_seconds"),
        ("", {"SMARTHUB_REDIS_URL": "notaurl"}, "in the environment: SMARTHUB_REDIS_URL: "),
        ("", {"SMARTHUB_REDIS_URL": "redis://:pw@127.0.0.1:6379/zero"}, "SMARTHUB_REDIS_URL"),
        ("", {"SMARTHUB_REDIS_URL": "redis://127.0.0.1:6379/0?colour=red"}, "unknown Redis URL option 'colour'"),
        ('[auth]\nsignup_grant = "1e999999"\n', {}, "auth.signup_grant"),
        (
            '[models.x]\nkind = "chat"\n[[models.x.routes]]\nprovider = "nope"\nupstream = "m"\n',
            {},
            "unknown provider 'nope'",
        ),
    ],
)
def test_bad_config_is_one_clear_line(tmp_path, toml, env, fragment):
    path = tmp_path / "c.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env)
    assert fragment in info.value.message
    assert "\n" not in info.value.message
    assert ":pw@" not in info.value.message  # a Redis URL's password is never echoed


def test_readme_commands_call_the_cli_the_install_puts_in_the_venv():
    """The README installs into .venv and does not activate it: a bare `smarthub` is not on PATH."""
    import re

    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", readme, flags=re.S)
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    assert any(line.startswith(".venv/bin/smarthub ") for line in lines)
    assert not [line for line in lines if line.startswith(("smarthub ", "python -m smarthub"))]
    assert "scripts/serve.sh --port 9000" in readme


def test_example_config_is_valid_and_documents_every_section():
    cfg = load_config(ROOT / "config.toml", env={})
    text_ = (ROOT / "config.toml").read_text()
    for section in type(cfg.settings).model_fields:
        assert f"[{section}" in text_ or f"[[{section}" in text_, f"config.toml does not document [{section}]"


# --- migrations and schema ---------------------------------------------------------------------


def test_statement_splitter_keeps_trigger_bodies():
    sql = (
        "CREATE TABLE a (x INTEGER);\n-- @sqlite\nCREATE TRIGGER t BEFORE UPDATE ON a\nBEGIN\n"
        "  SELECT RAISE(ABORT, 'no');\nEND;\n-- @end\n-- @postgresql\nCREATE FUNCTION f() RETURNS trigger AS $$\n"
        "BEGIN\n  RAISE EXCEPTION 'no';\nEND;\n$$ LANGUAGE plpgsql;\n-- @end\n"
    )
    sqlite = split_statements(select_dialect(sql, "sqlite"))
    pg = split_statements(select_dialect(sql, "postgresql"))
    assert len(sqlite) == 2 and sqlite[1].endswith("END;")
    assert len(pg) == 2 and pg[1].endswith("LANGUAGE plpgsql;")


async def test_upgrade_twice_is_idempotent(database_url):
    database = Database(database_url)
    try:
        first = await upgrade(database)
        second = await upgrade(database)
        assert [m.version for m in first] == [m.version for m in available()]
        assert second == []
        assert await applied_versions(database) == {m.version for m in available()}
    finally:
        await database.close()


async def test_a_new_sqlite_database_gets_small_pages_and_an_old_one_keeps_its_own(tmp_path):
    import sqlite3

    from smarthub_mcp.db import SQLITE_PAGE_SIZE

    old = tmp_path / "old.db"
    with contextlib.closing(sqlite3.connect(old)) as conn:
        conn.execute("PRAGMA page_size=4096")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE before_us (a)")
    for path in (tmp_path / "new.db", old):
        db = Database(f"sqlite:///{path}")
        try:
            await upgrade(db)
            assert await applied_versions(db)
        finally:
            await db.close()
    sizes = {}
    for path in (tmp_path / "new.db", old):
        with contextlib.closing(sqlite3.connect(path)) as conn:
            sizes[path.name] = conn.execute("PRAGMA page_size").fetchone()[0]
    assert sizes == {"new.db": SQLITE_PAGE_SIZE, "old.db": 4096}


# --- app ---------------------------------------------------------------------------------------


async def test_health_and_readiness(client):
    health = await client.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert health.headers["x-request-id"]
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"


async def test_readiness_fails_when_database_is_unreachable(tmp_path):
    import httpx

    from smarthub_mcp.app import build_app
    from tests.conftest import running_app

    config = load_config(env={"SMARTHUB_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none",
                              "SMARTHUB_JWT_SECRET": TEST_JWT_SECRET})
    app = build_app(config)
    async with running_app(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            assert (await client.get("/healthz")).status_code == 200
            ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "checks": {"database": "unreachable"}}


async def test_a_served_app_freezes_its_start_up_heap(config):
    import gc

    from smarthub_mcp.app import build_app
    from tests.conftest import running_app

    assert gc.get_freeze_count() == 0
    try:
        async with running_app(build_app(config, freeze_heap=True)):
            frozen = gc.get_freeze_count()
    finally:
        gc.unfreeze()  # the rest of the test session must stay collectable
    assert frozen > 10_000  # every module and schema alive at start-up


async def test_unknown_route_has_the_error_shape(client):
    response = await client.get("/api/v1/does-not-exist", headers={"x-request-id": "abc-123"})
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not Found", "details": {}}}
    assert response.headers["x-request-id"] == "abc-123"


async def test_mcp_initialize_over_real_http(services, live_server):
    import httpx2

    from tests.factories import bearer, make_user_with_token

    _, token = await make_user_with_token(services)
    transport = streamable_http_client(f"{live_server.url}/mcp", http_client=httpx2.AsyncClient(headers=bearer(token)))
    async with Client(transport, mode="legacy") as client:
        assert client.server_info is not None and client.server_info.name == "smarthub"
        assert client.protocol_version == "2025-11-25"


# --- CLI ---------------------------------------------------------------------------------------


def _cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "smarthub_mcp", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        cwd=cwd,
    )


def test_cli_db_upgrade_and_status(database_url, tmp_path):
    env = {"SMARTHUB_DATABASE_URL": database_url}
    first = _cli("db", "upgrade", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "applied 0001_schema" in first.stdout
    again = _cli("db", "upgrade", env=env, cwd=tmp_path)
    assert again.returncode == 0 and "up to date" in again.stdout
    status = _cli("db", "status", env=env, cwd=tmp_path)
    assert "0001_schema\tapplied" in status.stdout


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"SMARTHUB_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none"}, "cannot reach the database"),
        ({"SMARTHUB_DATABASE_URL": "mysql://u@h/db"}, "unsupported database"),
        ({"SMARTHUB_SERVER__PORT": "eighty"}, "server.port"),
        ({"SMARTHUB_REDIS_URL": "notaurl"}, "SMARTHUB_REDIS_URL"),
        # Lists and tables take JSON in the environment; a bare word is named, not a traceback.
        ({"SMARTHUB_SERVER__ALLOWED_HOSTS": "smarthub.example.com"}, "SMARTHUB_SERVER__ALLOWED_HOSTS: not valid JSON"),
        ({"SMARTHUB_LIMITS__USERS": "x"}, "SMARTHUB_LIMITS__USERS: not valid JSON"),
        ({"SMARTHUB_PACKAGES": "starter"}, "SMARTHUB_PACKAGES: not valid JSON"),
    ],
)
def test_cli_bad_setup_is_one_line_and_exit_2(env, fragment, tmp_path):
    result = _cli("serve", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "env", "fragment"),
    [
        (("db", "status"), {"SMARTHUB_DATABASE_URL": "postgresql://no_such_role@127.0.0.1:5432/test"},
         "cannot reach the database"),
        (("serve",), {"SMARTHUB_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/no_such_database_here"},
         "cannot reach the database"),
        (("credits", "check"), {"SMARTHUB_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none"},
         "cannot reach the database"),
        (("credits", "balance", "x@example.com"), {"SMARTHUB_DATABASE_URL": "sqlite:////nonexistent-dir/x.db"},
         "cannot reach the database"),
        (("serve", "--config", "latin1.toml"), {}, "not UTF-8"),
        (("serve", "--port", "99999"), {}, "99999 is not in the range"),
    ],
)
def test_cli_database_and_argument_faults_are_one_clear_error(args, env, fragment, tmp_path):
    """Refusals asyncpg raises unwrapped (a wrong role, a missing database), the credit commands on a
    database that does not answer, a config file in another encoding, a port out of range: a clear
    message and exit 2, never a traceback (nor, for the port, a server on port 99999 % 65536)."""
    (tmp_path / "latin1.toml").write_bytes('[server]\npublic_base_url = "http://caf\xe9.example"\n'.encode("latin-1"))
    result = _cli(*args, env={"SMARTHUB_JWT_SECRET": "s" * 40, **env}, cwd=tmp_path)
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert fragment in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def _listed_commands(help_text: str) -> dict[str, str]:
    """The `Commands:` section of a group's --help: name -> the short help shown beside it."""
    listed, section = {}, False
    for line in help_text.splitlines():
        if line.strip() == "Commands:":
            section = True
        elif section and line.startswith("  ") and line.strip():
            name, _, short = line.strip().partition(" ")
            listed[name] = short.strip()
    return listed


def test_every_group_help_shows_whole_short_helps():
    """Click cuts a docstring's first line at its first full stop ("(e.g.") and at the width ("...");
    every command's line in every group's --help must read whole."""
    import click

    from smarthub_mcp.cli import main

    groups = [[]] + [[name] for name, cmd in main.commands.items() if isinstance(cmd, click.Group)]
    assert len(groups) > 3
    for group in groups:
        result = _cli(*group, "--help", env={"COLUMNS": "80"})
        assert result.returncode == 0, result.stderr
        listed = _listed_commands(result.stdout)
        command = " ".join(["smarthub", *group, "--help"])
        assert listed, f"{command} lists no commands"
        for name, short in listed.items():
            where = f"{command}: {name}"
            assert not short.endswith("..."), f"{where}: cut at the width: {short!r}"
            assert not short.endswith(("e.g.", "i.e.", "etc.")), f"{where}: cut at an abbreviation: {short!r}"
            assert short.count("(") == short.count(")"), f"{where}: cut inside parentheses: {short!r}"


def test_serve_refuses_unupgraded_postgres(pg_database_url, tmp_path):
    if pg_database_url is None:
        pytest.skip("PostgreSQL not reachable")
    # The run's database has tests' schemas in it, but its public schema is never upgraded.
    result = _cli("serve", "--port", "1", env={"SMARTHUB_DATABASE_URL": pg_database_url}, cwd=tmp_path)
    assert result.returncode == 2
    assert "smarthub db upgrade" in result.stderr


def test_log_format_short_spelling(tmp_path):
    assert load_config(env={"SMARTHUB_LOG_FORMAT": "json"}).settings.logging.format == "json"
    both = load_config(env={"SMARTHUB_LOG_FORMAT": "json", "SMARTHUB_LOGGING__FORMAT": "text"})
    assert both.settings.logging.format == "text"


def test_json_logs_carry_the_request_id():
    import io
    import json
    import logging

    from smarthub_mcp import logs

    stream = io.StringIO()
    logs.configure("INFO", "json", stream=stream)
    token = logs.request_id_var.set("req-42")
    try:
        logging.getLogger("smarthub.test").info("hello", extra={"user": "u1"})
    finally:
        logs.request_id_var.reset(token)
        logs.configure("INFO", "text")
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["request_id"] == "req-42" and line["msg"] == "hello" and line["user"] == "u1"


async def test_debug_logs_keep_the_drivers_quiet(make_config, db):
    """At DEBUG, SmartHub's own lines appear but no database statement with its parameters: a
    registration must not write the password's hash (or the refresh token's) into the log."""
    import io
    import logging

    from smarthub_mcp import logs
    from tests.identity.helpers import app_client

    stream = io.StringIO()
    logs.configure("DEBUG", "text", stream=stream)
    try:
        async with app_client(make_config()) as client:
            body = {"email": "dbg@example.com", "password": "pw-" + "x" * 12}
            r = await client.post("/api/v1/auth/register", json=body)
            assert r.status_code == 201
            logging.getLogger("smarthub.test").debug("own debug line")
    finally:
        logs.configure("INFO", "text")
    text_out = stream.getvalue()
    assert "own debug line" in text_out
    assert "$argon2" not in text_out and "INSERT INTO" not in text_out, text_out[-2000:]


async def test_fetch_point_reads(db):
    rows = await db.fetch("SELECT version, name FROM schema_migrations WHERE version = :v", {"v": 1})
    assert rows[0].version == 1 and rows[0][1] == "schema"
    assert await db.fetch_one("SELECT version FROM schema_migrations WHERE version = :v", {"v": -1}) is None


@contextlib.contextmanager
def _serving(tmp_path, **extra_env: str):
    """`smarthub serve` in a subprocess on a fresh SQLite file; yields (base URL, process), then stops
    it with SIGINT and checks it exits 0 without a traceback."""
    import signal
    import time

    import httpx

    from tests.conftest import free_port

    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "SMARTHUB_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 's.db'}", **extra_env}
    process = subprocess.Popen(
        [sys.executable, "-m", "smarthub_mcp", "serve", "--port", str(port)],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                assert process.poll() is None, process.stderr.read()
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert "Application shutdown complete" in stderr


def test_serve_answers_and_stops_cleanly_on_ctrl_c(tmp_path):
    """The README's server: SQLite upgraded on start, /healthz and /readyz answer, SIGINT exits 0."""
    import httpx

    with _serving(tmp_path) as (url, _):
        assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
        assert httpx.get(f"{url}/readyz", timeout=5).status_code == 200
        assert (tmp_path / ".smarthub-jwt-secret").exists(), "dev mode keeps a generated secret"


def test_serve_takes_the_client_ip_from_a_trusted_proxy(tmp_path):
    """Behind a proxy on loopback (trusted by default), X-Forwarded-For names the client: the sign-up
    cap counts each client, not the proxy. An untrusted peer's header is ignored."""
    import httpx

    def register(url: str, n: int, forwarded: str) -> int:
        body = {"email": f"c{n}@example.com", "password": "pw-" + "x" * 12}
        return httpx.post(f"{url}/api/v1/auth/register", json=body, headers={"X-Forwarded-For": forwarded},
                          timeout=10).status_code

    with _serving(tmp_path, SMARTHUB_AUTH__SIGNUPS_PER_IP_PER_HOUR="1") as (url, _):
        assert [register(url, 1, "10.0.0.1"), register(url, 2, "10.0.0.1"), register(url, 3, "10.0.0.2")] == [
            201, 429, 201]
    (tmp_path / "s.db").unlink()
    with _serving(tmp_path, SMARTHUB_AUTH__SIGNUPS_PER_IP_PER_HOUR="1",
                  SMARTHUB_SERVER__FORWARDED_ALLOW_IPS='["192.0.2.1"]') as (url, _):
        assert [register(url, 4, "10.0.0.3"), register(url, 5, "10.0.0.4")] == [201, 429]


def test_ids_sort_in_the_order_they_were_made():
    from smarthub_mcp.ids import new_id

    made = [new_id("ent") for _ in range(20_000)]  # many per millisecond
    assert made == sorted(made)
    assert len(set(made)) == len(made)
    assert all(len(i) == len("ent_") + 26 for i in made)
