"""Access tokens: every forged, stale or revoked token is a 401 with WWW-Authenticate, never a 500.

Each bad token is tried through the HTTP API (`GET /api/v1/auth/me`) and through the MCP SDK's
seam (`SmartHubTokenVerifier.verify_token`), which must answer None.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import stat
import time

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from sqlalchemy import text

from smarthub_mcp.app import build_app
from smarthub_mcp.compose import build_services
from smarthub_mcp.config import load_config
from smarthub_mcp.db import Database
from smarthub_mcp.errors import ConfigError
from smarthub_mcp.identity.tokens import SECRET_FILE_NAME, load_signing_keys
from smarthub_mcp.identity.verifier import SmartHubTokenVerifier, principal_from_access_token
from tests.conftest import TEST_JWT_SECRET, base_env, running_app
from tests.factories import bearer, make_user_with_token


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def handmade(header: dict, claims: dict, key: bytes | None) -> str:
    """A token built by hand, as an attacker would (PyJWT refuses to make some of these)."""
    signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest() if key else b""
    return signing_input + "." + b64(signature)


def claims_for(user_id: str, **changes) -> dict:
    now = int(time.time())
    base = {"iss": "smarthub-mcp", "aud": "smarthub-mcp", "sub": user_id, "iat": now, "nbf": now,
            "exp": now + 600, "jti": "jti_" + secrets.token_hex(8), "role": "user", "scope": "", "gen": 0}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


async def assert_refused(client, services, token: str) -> None:
    r = await client.get("/api/v1/auth/me", headers={"Authorization": ("Bearer " + token).encode()})
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == "unauthenticated"
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert await SmartHubTokenVerifier(services).verify_token(token) is None


def hs(claims: dict, key: str = TEST_JWT_SECRET) -> str:
    return jwt.encode(claims, key, algorithm="HS256")


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda uid: handmade({"alg": "none", "typ": "JWT"}, claims_for(uid), None), id="alg-none"),
        pytest.param(lambda uid: handmade({"alg": "HS512"}, claims_for(uid), TEST_JWT_SECRET.encode()), id="alg-hs512"),
        pytest.param(lambda uid: hs(claims_for(uid), "another-secret-" + "y" * 40), id="wrong-signature"),
        pytest.param(lambda uid: hs(claims_for(uid, aud="someone-else")), id="wrong-aud"),
        pytest.param(lambda uid: hs(claims_for(uid, iss="evil-issuer")), id="wrong-iss"),
        pytest.param(lambda uid: hs(claims_for(uid, exp=int(time.time()) - 60)), id="expired"),
        pytest.param(lambda uid: hs(claims_for(uid, nbf=int(time.time()) + 120)), id="not-yet-valid"),
        pytest.param(lambda uid: hs(claims_for(uid, jti=None)), id="no-jti"),
        pytest.param(lambda uid: hs(claims_for(uid, exp=None)), id="no-exp"),
        pytest.param(lambda uid: hs(claims_for(uid, aud=None)), id="no-aud"),
        pytest.param(lambda uid: hs(claims_for(uid, sub="usr_nobody")), id="unknown-user"),
        pytest.param(lambda uid: hs(claims_for(uid, gen=None)), id="no-generation"),
        pytest.param(lambda uid: hs(claims_for(uid, gen=-1)), id="old-generation"),
        pytest.param(lambda uid: hs(claims_for(uid, sub=12345)), id="sub-not-string"),
        pytest.param(lambda uid: "not.a.jwt", id="malformed"),
        pytest.param(lambda uid: "a" * 10_240, id="10k-garbage"),
        pytest.param(lambda uid: secrets.token_urlsafe(7_500) + "." + "x" * 3_000, id="10k-dotted"),
        pytest.param(lambda uid: "eyJ" + "\u00e9" * 50, id="non-ascii"),
        pytest.param(lambda uid: "shk_" + "x" * 43, id="unknown-api-key"),
    ],
)
async def test_forged_and_broken_tokens_are_401(client, services, forge):
    user_id, good = await make_user_with_token(services)
    assert (await client.get("/api/v1/auth/me", headers=bearer(good))).status_code == 200
    await assert_refused(client, services, forge(user_id))


async def test_leeway_accepts_small_clock_skew(client, services):
    user_id, _ = await make_user_with_token(services)
    token = hs(claims_for(user_id, exp=int(time.time()) - 3, nbf=int(time.time()) + 3))
    assert (await client.get("/api/v1/auth/me", headers=bearer(token))).status_code == 200


async def test_missing_or_odd_authorization_headers(client):
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}, {"Authorization": "Bearer"}):
        r = await client.get("/api/v1/auth/me", headers=headers)
        assert r.status_code == 401 and "www-authenticate" in r.headers


async def test_disabled_user_and_revoked_jti(client, services):
    user_id, token = await make_user_with_token(services)
    r = await client.post("/api/v1/auth/logout", headers=bearer(token), json={})
    assert r.status_code == 200
    await assert_refused(client, services, token)

    user_id, token = await make_user_with_token(services)
    async with services.db.write() as conn:
        await conn.execute(text("UPDATE users SET status = 'disabled' WHERE id = :id"), {"id": user_id})
    r = await client.get("/api/v1/auth/me", headers=bearer(token))
    assert r.status_code == 403 and r.json()["error"]["code"] == "account_disabled", r.text
    assert await SmartHubTokenVerifier(services).verify_token(token) is None


async def test_verifier_returns_the_principal(services):
    user_id, token = await make_user_with_token(services, role="manager", email="m@example.com")
    access = await SmartHubTokenVerifier(services).verify_token(token)
    assert access is not None and access.subject == user_id
    assert "promo:manage" in access.scopes and "users:manage" not in access.scopes
    principal = principal_from_access_token(access)
    assert principal.user_id == user_id and principal.email == "m@example.com"
    assert principal.role == "manager" and principal.auth_method == "jwt"
    assert principal.can("tools:chat") and not principal.can("roles:manage")
    assert principal.token_id == jwt.decode(token, options={"verify_signature": False})["jti"]


# --- RS256 / EdDSA ------------------------------------------------------------------------------


def write_keys(tmp_path, kind: str) -> tuple[str, str, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048) if kind == "RS256" \
        else ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / f"{kind}.key").write_bytes(private)
    (tmp_path / f"{kind}.pub").write_bytes(public)
    return str(tmp_path / f"{kind}.key"), str(tmp_path / f"{kind}.pub"), public


@pytest.mark.parametrize("algorithm", ["RS256", "EdDSA"])
async def test_asymmetric_tokens_and_jwks(make_config, db, tmp_path, algorithm):
    private, public, public_pem = write_keys(tmp_path, algorithm)
    config = make_config(SMARTHUB_AUTH__ALGORITHM=algorithm, SMARTHUB_AUTH__PRIVATE_KEY_FILE=private,
                         SMARTHUB_AUTH__PUBLIC_KEY_FILE=public)
    services = build_services(config)
    app = build_app(services=services)
    async with running_app(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        user_id, token = await make_user_with_token(services)
        assert jwt.get_unverified_header(token)["alg"] == algorithm
        assert (await c.get("/api/v1/auth/me", headers=bearer(token))).status_code == 200
        jwks = (await c.get("/.well-known/jwks.json")).json()
        assert len(jwks["keys"]) == 1 and jwks["keys"][0]["alg"] == algorithm
        # The published key verifies our tokens.
        verifier_key = jwt.PyJWK(jwks["keys"][0])
        jwt.decode(token, verifier_key, algorithms=[algorithm], audience="smarthub-mcp")
        # Algorithm confusion: HS256 "signed" with the public key must not pass.
        confused = handmade({"alg": "HS256", "typ": "JWT"}, claims_for(user_id), public_pem)
        await assert_refused(c, services, confused)
        await assert_refused(c, services, handmade({"alg": "none"}, claims_for(user_id), None))
        await assert_refused(c, services, hs(claims_for(user_id)))


async def test_hs256_publishes_no_keys(client):
    assert (await client.get("/.well-known/jwks.json")).json() == {"keys": []}


# --- the secret ----------------------------------------------------------------------------------


@pytest.mark.parametrize("secret", [None, "short-secret"])
def test_refuses_to_start_without_a_strong_secret_outside_dev_mode(tmp_path, secret):
    env = {"SMARTHUB_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "SMARTHUB_AUTH__DEV_MODE": "false"}
    if secret:
        env["SMARTHUB_JWT_SECRET"] = secret
    with pytest.raises(ConfigError) as info:
        build_app(load_config(env=env))
    assert "SMARTHUB_JWT_SECRET" in info.value.message


def test_dev_mode_refuses_a_short_secret_too(tmp_path):
    env = {"SMARTHUB_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "SMARTHUB_JWT_SECRET": "secret"}
    with pytest.raises(ConfigError, match="too short"):
        build_app(load_config(env=env))
    assert not (tmp_path / SECRET_FILE_NAME).exists()


def test_bad_key_files_are_config_errors(tmp_path):
    (tmp_path / "junk.pem").write_text("not a key")
    for extra in ({}, {"SMARTHUB_AUTH__PRIVATE_KEY_FILE": str(tmp_path / "missing.pem")},
                  {"SMARTHUB_AUTH__PRIVATE_KEY_FILE": str(tmp_path / "junk.pem")}):
        config = load_config(env={"SMARTHUB_AUTH__ALGORITHM": "RS256", **extra})
        with pytest.raises(ConfigError):
            load_signing_keys(config.settings.auth, config.secrets, Database("sqlite:///" + str(tmp_path / "a.db")))
    private, _, _ = write_keys(tmp_path, "EdDSA")
    config = load_config(env={"SMARTHUB_AUTH__ALGORITHM": "RS256", "SMARTHUB_AUTH__PRIVATE_KEY_FILE": private})
    with pytest.raises(ConfigError, match="does not hold a key"):
        load_signing_keys(config.settings.auth, config.secrets, Database("sqlite:///" + str(tmp_path / "a.db")))


def test_dev_mode_generates_and_keeps_a_secret(tmp_path):
    env = {"SMARTHUB_DATABASE_URL": f"sqlite:///{tmp_path / 'data' / 'x.db'}"}
    (tmp_path / "data").mkdir()
    first = build_services(load_config(env=env))
    token = first.identity.codec.issue(user_id="usr_1", role="user").token
    path = tmp_path / "data" / SECRET_FILE_NAME
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    second = build_services(load_config(env=env))  # a restart
    assert second.identity.codec.decode(token)["sub"] == "usr_1"


def test_dev_mode_generates_no_secret_for_postgresql(tmp_path, monkeypatch):
    """Replicas share a PostgreSQL database: a secret generated on each would make each refuse
    the others' tokens, so PostgreSQL needs SMARTHUB_JWT_SECRET even in dev mode."""
    monkeypatch.chdir(tmp_path)
    env = base_env("postgresql://postgres@127.0.0.1:5432/none")
    del env["SMARTHUB_JWT_SECRET"]
    env["SMARTHUB_AUTH__DEV_MODE"] = "true"
    with pytest.raises(ConfigError, match="same on every replica"):
        build_services(load_config(env=env)).identity.codec  # noqa: B018
    assert not (tmp_path / SECRET_FILE_NAME).exists()
