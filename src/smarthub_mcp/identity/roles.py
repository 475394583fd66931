"""Roles and their permissions, read from the database and cached in process for a few seconds.

The role→permission table lives in `roles` and `role_permissions` (seeded by the migration,
changed by admins through `PUT /api/v1/admin/roles/{role}`). Roles form a chain, and a role's
effective permissions are its own plus all of its ancestors' (admin ⊇ manager ⊇ user ⊇ guest).

The cache holds the whole table for `ROLE_CACHE_TTL_SECONDS` (5 s): the authentication hot path
then costs no query for permissions, and every replica sees an admin's change within 5 seconds
(the replica that made it sees it at once, since the change clears its cache).
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp.db import Database

ROLE_CACHE_TTL_SECONDS = 5.0
DEFAULT_ROLE = "user"
PERMISSION_RE = re.compile(r"^[a-z][a-z0-9_-]{0,30}(:[a-z0-9_*-]{1,30}){1,2}$")

KNOWN_PERMISSIONS = (
    "tools:chat",
    "tools:image",
    "tools:video",
    "tools:templates",
    "templates:publish",
    "credits:read",
    "credits:adjust",
    "promo:manage",
    "payments:read",
    "reports:read",
    "users:manage",
    "roles:manage",
)
"""The permissions the code checks today. Admins may add others (for packages not yet built)."""

ADMIN_FLOOR = frozenset({"users:manage", "roles:manage"})
"""The admin role always keeps these, so no change can lock every admin out."""


@dataclass(frozen=True)
class RoleInfo:
    name: str
    parent: str | None
    seniority: int
    description: str
    own: frozenset[str]
    effective: frozenset[str]


class RoleTable:
    """The cached role table; `permissions(role)` is what the hot path calls."""

    def __init__(self, db: Database, ttl: float = ROLE_CACHE_TTL_SECONDS) -> None:
        self.db = db
        self.ttl = ttl
        self._roles: dict[str, RoleInfo] = {}
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        self._loaded_at = float("-inf")

    async def roles(self) -> dict[str, RoleInfo]:
        if time.monotonic() - self._loaded_at < self.ttl:
            return self._roles
        async with self._lock:  # one reload at a time, however many requests are waiting
            if time.monotonic() - self._loaded_at >= self.ttl:
                async with self.db.read() as conn:
                    self._roles = await load_roles(conn)
                self._loaded_at = time.monotonic()
        return self._roles

    async def permissions(self, role: str) -> frozenset[str]:
        info = (await self.roles()).get(role)
        return info.effective if info else frozenset()

    async def exists(self, role: str) -> bool:
        return role in await self.roles()


async def load_roles(conn: AsyncConnection) -> dict[str, RoleInfo]:
    rows = (await conn.execute(text("SELECT name, parent, seniority, description FROM roles"))).all()
    own: dict[str, set[str]] = {r.name: set() for r in rows}
    for r in await conn.execute(text("SELECT role, permission FROM role_permissions")):
        own.setdefault(r.role, set()).add(r.permission)
    parents = {r.name: r.parent for r in rows}

    def effective(name: str) -> frozenset[str]:
        found: set[str] = set()
        seen: set[str] = set()
        current: str | None = name
        while current is not None and current not in seen:  # `seen` guards against a cycle
            seen.add(current)
            found |= own.get(current, set())
            current = parents.get(current)
        return frozenset(found)

    return {
        r.name: RoleInfo(r.name, r.parent, r.seniority, r.description, frozenset(own[r.name]), effective(r.name))
        for r in rows
    }


async def set_role_permissions(conn: AsyncConnection, role: str, permissions: frozenset[str]) -> None:
    """Replace a role's own permissions (inside the caller's write transaction)."""
    await conn.execute(text("DELETE FROM role_permissions WHERE role = :r"), {"r": role})
    for permission in sorted(permissions):
        await conn.execute(
            text("INSERT INTO role_permissions (role, permission) VALUES (:r, :p)"), {"r": role, "p": permission}
        )
