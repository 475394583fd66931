"""Access tokens: JWTs signed with HS256 (a secret) or RS256/EdDSA (key files), verified strictly.

Verification pins the one configured algorithm (so `alg: none` and algorithm-confusion tokens
fail), requires `iss`, `aud`, `sub`, `exp`, `iat`, `nbf` and `jti`, checks issuer and audience,
and allows `auth.leeway_seconds` of clock skew. Revocation and the user's status are checked by
the caller against the database (`identity.principals`), since they change after issue.

In dev mode without `SMARTHUB_JWT_SECRET`, a secret is generated once and kept in a 0600 file
next to the SQLite database (or in the working directory for PostgreSQL), so tokens survive
restarts. Outside dev mode a missing or short secret stops start-up.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm

from smarthub_mcp.config import AuthConfig, Secrets
from smarthub_mcp.db import Database
from smarthub_mcp.errors import ConfigError, Unauthenticated
from smarthub_mcp.ids import new_id

log = logging.getLogger("smarthub.identity")

MIN_SECRET_CHARS = 32
MAX_TOKEN_CHARS = 8192  # real tokens are well under 1 KB; refuse garbage before parsing it
REQUIRED_CLAIMS = ["iss", "aud", "sub", "exp", "iat", "nbf", "jti"]
SECRET_FILE_NAME = ".smarthub-jwt-secret"


@dataclass(frozen=True)
class SigningKeys:
    algorithm: str
    signing_key: Any
    verification_key: Any
    kid: str | None = None
    public_jwk: dict[str, Any] | None = field(default=None)

    def secret_material(self) -> bytes:
        """Bytes only this server knows (the HS256 secret, or the private key), from which other
        keys are derived for purposes of their own (media download links)."""
        if isinstance(self.signing_key, str):
            return self.signing_key.encode()
        return bytes(self.signing_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ))


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: str
    expires_at: int  # epoch seconds
    expires_in: int


def secret_file_for(db: Database) -> Path:
    """Where dev mode keeps its generated secret: beside the SQLite file (the working directory for
    an in-memory database)."""
    database = db.engine.url.database
    if database and database != ":memory:":
        return Path(database).resolve().parent / SECRET_FILE_NAME
    return Path.cwd() / SECRET_FILE_NAME


def _dev_secret(path: Path) -> str:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        existing = path.read_text(encoding="utf-8").strip()
        if len(existing) >= MIN_SECRET_CHARS:
            return existing
        raise ConfigError(f"the dev-mode JWT secret in {path} is too short; delete the file") from None
    secret = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(secret + "\n")
    log.warning("dev mode: generated a JWT secret in %s (set SMARTHUB_JWT_SECRET in production)", path)
    return secret


def _read_key_file(path: str | None, what: str) -> bytes:
    if not path:
        raise ConfigError(f"auth.{what} is required for this auth.algorithm")
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"auth.{what}: cannot read {path}: {exc.strerror}") from None


def load_signing_keys(auth: AuthConfig, secret_values: Secrets, db: Database) -> SigningKeys:
    """Build the key material from config; raise ConfigError, in one line, when it is unusable."""
    if auth.algorithm == "HS256":
        secret = secret_values.jwt_secret
        if not secret:
            if not auth.dev_mode:
                raise ConfigError("SMARTHUB_JWT_SECRET is required (32+ characters) outside dev mode")
            if not db.is_sqlite:
                # Each replica would generate its own secret and refuse the others' tokens.
                raise ConfigError(
                    "SMARTHUB_JWT_SECRET is required on PostgreSQL (32+ characters, the same on every replica);"
                    " dev mode generates one only for a SQLite database"
                )
            secret = _dev_secret(secret_file_for(db))
        elif len(secret) < MIN_SECRET_CHARS:
            # Dev mode covers a missing secret, never a weak one: a short HMAC secret can be found
            # offline from any token it signed, and then any token can be forged.
            raise ConfigError(f"SMARTHUB_JWT_SECRET is too short: use at least {MIN_SECRET_CHARS} characters")
        return SigningKeys("HS256", secret, secret)

    private_pem = _read_key_file(auth.private_key_file, "private_key_file")
    try:
        private_key = serialization.load_pem_private_key(private_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"auth.private_key_file: not an unencrypted PEM private key ({exc})") from None
    expected = rsa.RSAPrivateKey if auth.algorithm == "RS256" else ed25519.Ed25519PrivateKey
    if not isinstance(private_key, expected):
        raise ConfigError(f"auth.private_key_file does not hold a key for {auth.algorithm}")
    if auth.public_key_file:
        public_key = serialization.load_pem_public_key(_read_key_file(auth.public_key_file, "public_key_file"))
        if public_key != private_key.public_key():
            raise ConfigError("auth.public_key_file does not match auth.private_key_file")
    public_key = private_key.public_key()
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    kid = base64.urlsafe_b64encode(hashlib.sha256(der).digest()[:12]).decode().rstrip("=")
    if isinstance(public_key, rsa.RSAPublicKey):
        jwk = RSAAlgorithm.to_jwk(public_key, as_dict=True)
    else:
        jwk = OKPAlgorithm.to_jwk(public_key, as_dict=True)
    jwk.update({"kid": kid, "alg": auth.algorithm, "use": "sig"})
    return SigningKeys(auth.algorithm, private_key, public_key, kid, jwk)


class TokenCodec:
    """Issues and verifies access tokens with one configuration."""

    def __init__(self, auth: AuthConfig, keys: SigningKeys) -> None:
        self.auth = auth
        self.keys = keys

    def issue(
        self,
        *,
        user_id: str,
        role: str,
        scope: list[str] | None = None,
        ttl_seconds: int | None = None,
        generation: int = 0,
        audience: str | list[str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> IssuedToken:
        """`generation` is the user's `token_generation`: bumping it (password change, reset, disable)
        voids every access token issued before, however long it still had to live. `audience` other
        than the configured one binds an OAuth token to the resources it names (RFC 8707)."""
        now = int(time.time())
        ttl = ttl_seconds or self.auth.access_token_ttl_seconds
        jti = new_id("jti")
        claims = {
            "iss": self.auth.issuer,
            "aud": audience or self.auth.audience,
            "sub": user_id,
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
            "jti": jti,
            "role": role,
            "scope": " ".join(sorted(scope or [])),
            "gen": generation,
            **(extra or {}),
        }
        headers = {"kid": self.keys.kid} if self.keys.kid else None
        token = jwt.encode(claims, self.keys.signing_key, algorithm=self.keys.algorithm, headers=headers)
        return IssuedToken(token, jti, now + ttl, ttl)

    def decode(self, token: str, *, audience: str | None = None) -> dict[str, Any]:
        """The verified claims, or Unauthenticated (never another exception). `audience`: the one
        this token must name instead of the configured one (an OAuth resource)."""
        if len(token) > MAX_TOKEN_CHARS:
            raise Unauthenticated("Malformed token")
        try:
            claims = jwt.decode(
                token,
                self.keys.verification_key,
                algorithms=[self.keys.algorithm],
                audience=audience or self.auth.audience,
                issuer=self.auth.issuer,
                leeway=self.auth.leeway_seconds,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("The access token has expired") from None
        except jwt.PyJWTError:
            raise Unauthenticated("Invalid access token") from None
        except Exception:  # a library bug on hostile input must still be a 401, not a 500
            log.warning("token decoding failed unexpectedly", exc_info=True)
            raise Unauthenticated("Invalid access token") from None
        if not isinstance(claims.get("sub"), str) or not isinstance(claims.get("jti"), str):
            raise Unauthenticated("Invalid access token")
        return claims

    def peek(self, token: str) -> dict[str, Any] | None:
        """The claims of a token this server signed, whatever its audience or expiry (None otherwise):
        for revocation, which must accept a token that is no longer usable."""
        if len(token) > MAX_TOKEN_CHARS:
            return None
        try:
            return jwt.decode(token, self.keys.verification_key, algorithms=[self.keys.algorithm],
                              options={"verify_aud": False, "verify_exp": False, "verify_nbf": False})
        except Exception:  # any failure means "not one of ours"
            return None

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.keys.public_jwk] if self.keys.public_jwk else []}
