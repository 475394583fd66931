"""The command line: db upgrade/status, one-line errors, group help in process (tests/clirunner.py);
`serve` for real in a subprocess."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path

import pytest

from smarthub_mcp.config import load_config
from tests.clirunner import cli as _cli

ROOT = Path(__file__).resolve().parents[1]


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
        with httpx.Client(timeout=1) as probe:  # one client: each would load the CA bundle again
            while True:
                try:
                    probe.get(f"http://127.0.0.1:{port}/healthz")
                    break
                except httpx.HTTPError:
                    assert process.poll() is None, process.stderr.read()
                    assert time.monotonic() < deadline, "server did not start"
                    time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
        process.stderr_text = stderr  # type: ignore[attr-defined]  # for the test to read afterwards
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert "Application shutdown complete" in stderr


def test_serve_answers_and_stops_cleanly_on_ctrl_c(tmp_path):
    """The README's server: SQLite upgraded on start, /healthz and /readyz answer, SIGINT exits 0.
    An idle keep-alive connection stays open `server.keep_alive_seconds` (here 2), then is closed."""
    import http.client
    import time

    import httpx

    with _serving(tmp_path, SMARTHUB_SERVER__KEEP_ALIVE_SECONDS="2") as (url, _):
        assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
        assert httpx.get(f"{url}/readyz", timeout=5).status_code == 200
        assert (tmp_path / ".smarthub-jwt-secret").exists(), "dev mode keeps a generated secret"
        conn = http.client.HTTPConnection("127.0.0.1", int(url.rsplit(":", 1)[1]), timeout=10)
        try:
            for _ in range(2):  # the second request, after 1 s idle, goes down the same connection
                conn.request("GET", "/healthz")
                answer = conn.getresponse()
                assert answer.status == 200 and answer.read()
                kept = conn.sock
                time.sleep(1)
            assert conn.sock is kept, "one connection for both requests"
            time.sleep(1.5)  # idle for 2.5 s in all: the server has closed it
            kept.settimeout(0.5)  # an open connection would time out here instead of reading the close
            assert kept.recv(1) == b""
        finally:
            conn.close()


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


def test_serve_advertises_the_address_it_serves_and_reads_the_local_config(tmp_path):
    """Without public_base_url set, the served port is what the metadata and challenges name (not
    :8000); a config.toml in the working directory takes effect without --config, and the start-up
    line says which file was read."""
    import httpx

    with _serving(tmp_path) as (url, process):
        port = url.rsplit(":", 1)[1]
        meta = httpx.get(f"{url}/.well-known/oauth-protected-resource/mcp", timeout=5)
        assert meta.status_code == 200, meta.text
        assert f":{port}/mcp" in meta.json()["resource"], meta.json()
        challenge = httpx.post(f"{url}/mcp", json={}, timeout=5).headers.get("www-authenticate", "")
        assert f":{port}/" in challenge, challenge
    assert "config: built-in defaults" in process.stderr_text and f"public URL: http://127.0.0.1:{port}" in (
        process.stderr_text)
    (tmp_path / "s.db").unlink()
    (tmp_path / "config.toml").write_text('[server]\npublic_base_url = "https://hub.example.com"\n')
    with _serving(tmp_path) as (url, process):
        meta = httpx.get(f"{url}/.well-known/oauth-protected-resource/mcp", timeout=5)
        assert meta.json()["resource"].startswith("https://hub.example.com"), meta.json()
    assert "config: config.toml" in process.stderr_text and "public URL: https://hub.example.com" in process.stderr_text
