"""From nothing to an API key with the CLI alone, in process (tests/clirunner.py)."""

from __future__ import annotations

import pytest

from smarthub_mcp.compose import build_services
from smarthub_mcp.errors import Unauthenticated
from smarthub_mcp.identity.principals import principal_for_api_key, verify_jwt
from tests.clirunner import acli, cli
from tests.conftest import TEST_JWT_SECRET


async def test_newcomer_to_api_key(database_url, tmp_path, make_config):
    env = {"SMARTHUB_DATABASE_URL": database_url, "SMARTHUB_JWT_SECRET": TEST_JWT_SECRET,
           "SMARTHUB_AUTH__DEV_MODE": "false"}
    assert (await acli("db", "upgrade", env=env, cwd=tmp_path)).returncode == 0

    created = await acli("users", "create", "Admin@Example.com", "--role", "admin", "--password-stdin", env=env,
                         cwd=tmp_path, stdin="a long admin password\n")
    assert created.returncode == 0, created.stderr
    assert "created admin@example.com (admin)" in created.stdout

    other = await acli("users", "create", "bob@example.com", "--password", "bobs long password", env=env,
                       cwd=tmp_path)
    assert other.returncode == 0, other.stderr
    listed = await acli("users", "list", env=env, cwd=tmp_path)
    assert "admin@example.com\tadmin" in listed.stdout and "bob@example.com\tuser" in listed.stdout
    assert (await acli("users", "set-role", "BOB@example.com", "manager", env=env, cwd=tmp_path)).returncode == 0
    assert "bob@example.com\tmanager" in (await acli("users", "list", env=env, cwd=tmp_path)).stdout

    made = await acli("keys", "create", "admin@example.com", "--name", "laptop", env=env, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("shk_") and "\n" not in key

    tok = await acli("token", "admin@example.com", "--ttl", "120", env=env, cwd=tmp_path)
    assert tok.returncode == 0, tok.stderr

    services = build_services(make_config())
    try:
        principal = await principal_for_api_key(services, key)
        assert principal.email == "admin@example.com" and principal.can("users:manage")
        from_token, claims = await verify_jwt(services, tok.stdout.strip())
        assert from_token.role == "admin" and claims["exp"] - claims["iat"] == 120

        revoked = await acli("keys", "revoke", key[:12], env=env, cwd=tmp_path)
        assert revoked.returncode == 0, revoked.stderr
        with pytest.raises(Unauthenticated):
            await principal_for_api_key(services, key)
    finally:
        await services.db.close()


ERROR_CASES = [
    (("users", "create", "dup@example.com", "--password", "long enough pw"), "already exists"),
    (("users", "create", "new@example.com", "--password", "short"), "at least"),
    (("users", "create", "not-an-email", "--password", "long enough pw"), "not a valid email"),
    (("users", "create", "x@example.com", "--password", "long enough pw", "--role", "king"), "unknown role"),
    (("users", "set-role", "ghost@example.com", "admin"), "no user"),
    (("keys", "create", "ghost@example.com"), "no user"),
    (("keys", "revoke", "shk_nothere"), "no such active key"),
    (("token", "ghost@example.com"), "no user"),
]


def test_cli_errors_are_one_line(database_url, tmp_path):
    env = {"SMARTHUB_DATABASE_URL": database_url, "SMARTHUB_JWT_SECRET": TEST_JWT_SECRET,
           "SMARTHUB_AUTH__DEV_MODE": "false"}
    assert cli("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    first = cli("users", "create", "dup@example.com", "--password", "long enough pw", env=env, cwd=tmp_path)
    assert first.returncode == 0
    for args, fragment in ERROR_CASES:
        result = cli(*args, env=env, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stdout)
        assert fragment in result.stderr and "Traceback" not in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1


def test_cli_on_fresh_sqlite_needs_no_upgrade_step(tmp_path):
    env = {"SMARTHUB_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}"}  # dev mode, no secret
    created = cli("users", "create", "me@example.com", "--password", "long enough pw", env=env, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    made = cli("keys", "create", "me@example.com", env=env, cwd=tmp_path)
    assert made.returncode == 0 and made.stdout.startswith("shk_")
    assert cli("token", "me@example.com", env=env, cwd=tmp_path).returncode == 0
