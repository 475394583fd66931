"""API keys for agents and MCP clients: `shk_` + 32 random bytes (urlsafe base64).

Only the sha256 of a key is stored, with its first characters as a visible prefix so people can
tell keys apart; the key itself is shown once, at creation. A key may be limited to scopes (a
subset of its owner's permissions) and may expire. Owners create, list and revoke their keys;
admins can revoke anyone's.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import text

from smarthub_mcp.errors import Forbidden, InvalidRequest, NotFound
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.identity.principals import API_KEY_PREFIX
from smarthub_mcp.identity.roles import PERMISSION_RE
from smarthub_mcp.identity.sessions import hash_token
from smarthub_mcp.ids import new_id, now_ms
from smarthub_mcp.services import Services

PREFIX_CHARS = len(API_KEY_PREFIX) + 8
MAX_KEYS_PER_USER = 100
MAX_NAME = 100
_NAME_RE = re.compile(r"^[^\x00-\x1f\x7f]*$")


@dataclass(frozen=True)
class ApiKeyInfo:
    id: str
    name: str
    prefix: str
    scopes: list[str] | None
    expires_at: int | None
    last_used_at: int | None
    created_at: int
    revoked_at: int | None

    @classmethod
    def from_row(cls, r: Any) -> ApiKeyInfo:
        scopes = json.loads(r.scopes) if r.scopes is not None else None
        return cls(r.id, r.name, r.prefix, scopes, r.expires_at, r.last_used_at, r.created_at, r.revoked_at)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


_COLUMNS = "id, name, prefix, scopes, expires_at, last_used_at, created_at, revoked_at"


def _check_scopes(scopes: list[str] | None, creator: Principal | None, owner_permissions: frozenset[str]) -> None:
    if scopes is None:
        if creator is not None and creator.scopes is not None:
            # A scoped key may only mint keys at most as powerful as itself.
            raise Forbidden("a scoped credential can only create keys with scopes", details={"field": "scopes"})
        return
    bad = [s for s in scopes if not PERMISSION_RE.match(s)]
    if bad:
        raise InvalidRequest(
            "scopes must be permission names like 'tools:chat'", details={"field": "scopes", "invalid": bad}
        )
    allowed = owner_permissions if creator is None else frozenset(p for p in owner_permissions if creator.can(p))
    excess = sorted(set(scopes) - allowed)
    if excess:
        raise Forbidden("a key cannot have scopes its owner lacks", details={"field": "scopes", "excess": excess})


async def create_key(
    services: Services,
    user_id: str,
    *,
    name: str = "",
    scopes: list[str] | None = None,
    expires_at: int | None = None,
    creator: Principal | None = None,
) -> tuple[str, ApiKeyInfo]:
    """Create a key for `user_id`; returns the key (show it once) and its stored description."""
    name = name.strip()
    if len(name) > MAX_NAME or not _NAME_RE.match(name):
        raise InvalidRequest(f"name must be at most {MAX_NAME} printable characters", details={"field": "name"})
    now = now_ms()
    if expires_at is not None and expires_at <= now:
        raise InvalidRequest("expires_at must be in the future", details={"field": "expires_at"})
    async with services.db.read() as conn:
        role = (await conn.execute(text("SELECT role FROM users WHERE id = :u"), {"u": user_id})).scalar()
        count = (
            await conn.execute(
                text("SELECT COUNT(*) FROM api_keys WHERE user_id = :u AND revoked_at IS NULL"), {"u": user_id}
            )
        ).scalar_one()
    if role is None:
        raise NotFound("no such user")
    if count >= MAX_KEYS_PER_USER:
        raise InvalidRequest(f"at most {MAX_KEYS_PER_USER} active keys per user; revoke some first")
    _check_scopes(scopes, creator, await services.identity.roles.permissions(role))
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    async with services.db.write() as conn:
        row = (
            await conn.execute(
                text(
                    "INSERT INTO api_keys (id, user_id, name, prefix, key_hash, scopes, expires_at, created_at)"
                    f" VALUES (:id, :u, :name, :prefix, :hash, :scopes, :exp, :now) RETURNING {_COLUMNS}"
                ),
                {"id": new_id("key"), "u": user_id, "name": name, "prefix": key[:PREFIX_CHARS],
                 "hash": hash_token(key), "scopes": json.dumps(sorted(set(scopes))) if scopes is not None else None,
                 "exp": expires_at, "now": now},
            )
        ).one()
    return key, ApiKeyInfo.from_row(row)


async def list_keys(services: Services, user_id: str, *, include_revoked: bool = False) -> list[ApiKeyInfo]:
    where = "user_id = :u" + ("" if include_revoked else " AND revoked_at IS NULL")
    async with services.db.read() as conn:
        rows = await conn.execute(text(f"SELECT {_COLUMNS} FROM api_keys WHERE {where} ORDER BY id"), {"u": user_id})
        return [ApiKeyInfo.from_row(r) for r in rows]


async def revoke_key(services: Services, *, key_id: str | None = None, prefix: str | None = None,
                     owner_id: str | None = None) -> ApiKeyInfo:
    """Revoke by id or prefix; `owner_id` limits it to that user's keys (None: an admin, any key)."""
    clauses: list[str] = ["revoked_at IS NULL"]
    params: dict[str, Any] = {"now": now_ms()}
    if key_id is not None:
        clauses.append("id = :id")
        params["id"] = key_id
    elif prefix is not None:
        clauses.append("prefix = :prefix")
        params["prefix"] = prefix
    else:
        raise InvalidRequest("a key id or prefix is required")
    if owner_id is not None:
        clauses.append("user_id = :owner")
        params["owner"] = owner_id
    async with services.db.write() as conn:
        row = (
            await conn.execute(
                text(f"UPDATE api_keys SET revoked_at = :now WHERE {' AND '.join(clauses)} RETURNING {_COLUMNS}"),
                params,
            )
        ).first()
    if row is None:
        raise NotFound("no such active key")
    return ApiKeyInfo.from_row(row)
