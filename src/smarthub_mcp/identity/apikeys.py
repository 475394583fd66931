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
from smarthub_mcp.identity.errors import AmbiguousKey
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.identity.principals import API_KEY_PREFIX
from smarthub_mcp.identity.roles import PERMISSION_RE
from smarthub_mcp.identity.sessions import hash_token
from smarthub_mcp.identity.users import role_of
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
        role = await role_of(conn, user_id)
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


@dataclass(frozen=True)
class OwnedKey:
    """A key with its owner's email, for operators."""

    info: ApiKeyInfo
    email: str


_OWNED = ", ".join(f"k.{c.strip()}" for c in _COLUMNS.split(",")) + ", u.email"


async def list_owned_keys(services: Services, *, user_id: str | None = None, include_revoked: bool = False,
                          limit: int = 1000) -> list[OwnedKey]:
    """Keys with their owners' emails, oldest first: one user's (`user_id`) or everyone's."""
    where = ["1 = 1"] if include_revoked else ["k.revoked_at IS NULL"]
    params: dict[str, Any] = {"limit": limit}
    if user_id is not None:
        where.append("k.user_id = :u")
        params["u"] = user_id
    sql = (f"SELECT {_OWNED} FROM api_keys k JOIN users u ON u.id = k.user_id WHERE {' AND '.join(where)}"
           " ORDER BY k.id LIMIT :limit")
    async with services.db.read() as conn:
        return [OwnedKey(ApiKeyInfo.from_row(r), r.email) for r in await conn.execute(text(sql), params)]


MIN_PREFIX = len(API_KEY_PREFIX) + 4
MAX_CANDIDATES_SHOWN = 5


async def find_active_key(services: Services, ref: str) -> OwnedKey:
    """The one active key `ref` names: its id (`key_...`), the whole key, or the start of its visible
    prefix (`shk_` and at least 4 more characters). NotFound when none does; AmbiguousKey, naming
    the candidates, when several do."""
    ref = ref.strip()
    if ref.startswith("key_"):
        clause, params = "k.id = :ref", {"ref": ref}
    elif ref.startswith(API_KEY_PREFIX) and len(ref) > PREFIX_CHARS:
        clause, params = "k.key_hash = :ref", {"ref": hash_token(ref)}
    elif ref.startswith(API_KEY_PREFIX) and len(ref) >= MIN_PREFIX:
        # substr, not LIKE: the prefix itself holds `_`, a LIKE wildcard.
        clause, params = f"substr(k.prefix, 1, {len(ref)}) = :ref", {"ref": ref}
    else:
        raise InvalidRequest(f"name a key by its id (key_...) or by at least {MIN_PREFIX} characters of its"
                             f" prefix ({API_KEY_PREFIX}...)", details={"key": ref})
    sql = (f"SELECT {_OWNED} FROM api_keys k JOIN users u ON u.id = k.user_id"
           f" WHERE {clause} AND k.revoked_at IS NULL ORDER BY k.id LIMIT {MAX_CANDIDATES_SHOWN + 1}")
    async with services.db.read() as conn:
        found = [OwnedKey(ApiKeyInfo.from_row(r), r.email) for r in await conn.execute(text(sql), params)]
    if not found:
        raise NotFound("no such active key", details={"key": ref})
    if len(found) > 1:
        shown = ", ".join(f"{k.info.id} ({k.info.prefix}..., {k.email})" for k in found[:MAX_CANDIDATES_SHOWN])
        more = " and more" if len(found) > MAX_CANDIDATES_SHOWN else ""
        raise AmbiguousKey(f"{ref} matches more than one active key: {shown}{more}; give more of the prefix"
                           " or the key id", details={"key": ref, "matches": [k.info.id for k in found]})
    return found[0]


async def revoke_key(services: Services, *, key_id: str | None = None, prefix: str | None = None,
                     owner_id: str | None = None) -> ApiKeyInfo:
    """Revoke by id or by prefix (which must name one active key); `owner_id` limits it to that
    user's keys (None: an admin, any key)."""
    if key_id is None and prefix is not None:
        key_id = (await find_active_key(services, prefix)).info.id
    if key_id is None:
        raise InvalidRequest("a key id or prefix is required")
    clauses: list[str] = ["revoked_at IS NULL", "id = :id"]
    params: dict[str, Any] = {"now": now_ms(), "id": key_id}
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
