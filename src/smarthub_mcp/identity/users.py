"""Users: the one way to create them (hooks always run), lookups, and changes.

Every creation path (`POST /api/v1/auth/register`, `smarthub users create`) goes through
`create_user`, which runs every `services.user_created_hooks` inside the same write transaction:
the ledger opens the credit account there, so a user never exists without one.
"""

from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp.errors import InvalidRequest, NotFound
from smarthub_mcp.identity.errors import EmailTaken, InvalidEmail, UnknownRole
from smarthub_mcp.identity.passwords import check_policy, hash_password
from smarthub_mcp.identity.roles import DEFAULT_ROLE
from smarthub_mcp.ids import new_id, now_ms
from smarthub_mcp.services import Services

MAX_DISPLAY_NAME = 100
USER_COLUMNS = "id, email, display_name, role, status, email_verified, created_at, updated_at, token_generation"


@dataclass(frozen=True)
class UserRecord:
    id: str
    email: str
    display_name: str
    role: str
    status: str
    email_verified: bool
    created_at: int
    updated_at: int
    token_generation: int = 0

    @classmethod
    def from_row(cls, row: Any) -> UserRecord:
        return cls(
            row.id, row.email, row.display_name, row.role, row.status,
            bool(row.email_verified), row.created_at, row.updated_at, row.token_generation,
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        del data["token_generation"]
        return data


def normalize_email(raw: str) -> str:
    """Trim, NFKC, validate and lower-case: the one form stored and compared, so lookups ignore case
    and width (full-width "alice" is alice). A local part or domain label that mixes letters of two
    scripts (alice with a Cyrillic "a", U+0430) is refused: it exists to look like another address."""
    candidate = unicodedata.normalize("NFKC", raw.strip())
    try:
        info = validate_email(candidate, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise InvalidEmail(f"not a valid email address: {exc}", details={"field": "email"}) from None
    normalized = info.normalized.lower()
    local, _, domain = normalized.rpartition("@")
    for part in (local, *domain.split(".")):
        if len(_scripts(part)) > 1:
            raise InvalidEmail(
                "not a valid email address: it mixes letters of different scripts (" + ", ".join(
                    sorted(_scripts(part))) + "), as look-alike addresses do",
                details={"field": "email"},
            )
    return normalized


def _scripts(text: str) -> set[str]:
    """The scripts of the letters in `text` (LATIN, CYRILLIC, GREEK...), by their Unicode names;
    digits and punctuation belong to none."""
    found = set()
    for ch in text:
        if ch.isalpha():
            name = unicodedata.name(ch, "")
            script = name.split(" ", 1)[0] if name else "UNKNOWN"
            found.add(_WRITTEN_TOGETHER.get(script, script))
    return found


# Scripts written together in one language (Japanese, Korean) count as one.
_WRITTEN_TOGETHER = {"HIRAGANA": "CJK", "KATAKANA": "CJK", "HANGUL": "CJK"}


def clean_display_name(raw: str | None) -> str:
    name = unicodedata.normalize("NFC", (raw or "").strip())
    if len(name) > MAX_DISPLAY_NAME:
        raise InvalidRequest(
            f"display_name is longer than {MAX_DISPLAY_NAME} characters", details={"field": "display_name"}
        )
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in name):
        raise InvalidRequest(
            "display_name contains control or unassigned characters", details={"field": "display_name"}
        )
    return name


async def create_user(
    services: Services,
    email: str,
    password: str | None,
    *,
    role: str = DEFAULT_ROLE,
    display_name: str | None = None,
    email_verified: bool = False,
) -> UserRecord:
    """Create a user and run the user-created hooks in the same transaction; all or nothing."""
    normalized = normalize_email(email)
    name = clean_display_name(display_name)
    if not await services.identity.roles.exists(role):
        raise UnknownRole(f"unknown role {role!r}", details={"field": "role"})
    password_hash = None
    if password is not None:
        password_hash = await hash_password(check_policy(password, services.settings.auth.password_min_length))
    user_id, now = new_id("usr"), now_ms()
    async with services.db.write() as conn:
        inserted = (
            await conn.execute(
                text(
                    "INSERT INTO users (id, email, display_name, password_hash, role, status, email_verified,"
                    " token_generation, created_at, updated_at)"
                    " VALUES (:id, :email, :name, :hash, :role, 'active', :verified, 0, :now, :now)"
                    " ON CONFLICT (email) DO NOTHING RETURNING " + USER_COLUMNS
                ),
                {"id": user_id, "email": normalized, "name": name, "hash": password_hash, "role": role,
                 "verified": email_verified, "now": now},
            )
        ).first()
        if inserted is None:
            raise EmailTaken("an account with this email already exists", details={"field": "email"})
        for hook in services.user_created_hooks:
            await hook(conn, user_id)
    return UserRecord.from_row(inserted)


async def get_user(conn: AsyncConnection, user_id: str) -> UserRecord:
    row = (await conn.execute(text(f"SELECT {USER_COLUMNS} FROM users WHERE id = :id"), {"id": user_id})).first()
    if row is None:
        raise NotFound("no such user")
    return UserRecord.from_row(row)


async def find_by_email(conn: AsyncConnection, email: str) -> Any | None:
    """The full row (with password hash) for a normalized email, or None."""
    return (
        await conn.execute(
            text(f"SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = :e"), {"e": email}
        )
    ).first()


async def user_by_email(services: Services, email: str) -> UserRecord:
    async with services.db.read() as conn:
        row = await find_by_email(conn, normalize_email(email))
    if row is None:
        raise NotFound(f"no user with email {email!r}")
    return UserRecord.from_row(row)


async def update_user(conn: AsyncConnection, user_id: str, **changes: Any) -> UserRecord:
    """Set columns (role, status, password_hash, email_verified, display_name) and `updated_at`."""
    allowed = {"role", "status", "password_hash", "email_verified", "display_name"}
    assert set(changes) <= allowed, changes
    sets = ", ".join(f"{k} = :{k}" for k in changes)
    row = (
        await conn.execute(
            text(f"UPDATE users SET {sets}, updated_at = :now WHERE id = :id RETURNING {USER_COLUMNS}"),
            {**changes, "now": now_ms(), "id": user_id},
        )
    ).first()
    if row is None:
        raise NotFound("no such user")
    return UserRecord.from_row(row)


async def list_users(
    conn: AsyncConnection, *, query: str | None = None, role: str | None = None, limit: int = 50,
    after: str | None = None,
) -> list[UserRecord]:
    """Users ordered by id (creation order), filtered by an email substring and role; cursor `after`."""
    where: list[str] = ["1 = 1"]
    params: dict[str, Any] = {"limit": limit}
    if query:
        escaped = query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append("email LIKE :q ESCAPE '\\'")
        params["q"] = f"%{escaped}%"
    if role:
        where.append("role = :role")
        params["role"] = role
    if after:
        where.append("id > :after")
        params["after"] = after
    rows = await conn.execute(
        text(f"SELECT {USER_COLUMNS} FROM users WHERE {' AND '.join(where)} ORDER BY id LIMIT :limit"), params
    )
    return [UserRecord.from_row(r) for r in rows]


# --- single columns, for the modules that need one fact about a user (this module owns the table) ---


async def _one(conn: AsyncConnection, column: str, user_id: str) -> Any | None:
    return (await conn.execute(text(f"SELECT {column} FROM users WHERE id = :u"), {"u": user_id})).scalar()


async def email_of(conn: AsyncConnection, user_id: str) -> str | None:
    return await _one(conn, "email", user_id)


async def role_of(conn: AsyncConnection, user_id: str) -> str | None:
    return await _one(conn, "role", user_id)


async def created_at_of(conn: AsyncConnection, user_id: str) -> int | None:
    return await _one(conn, "created_at", user_id)


async def password_hash_of(conn: AsyncConnection, user_id: str) -> str | None:
    return await _one(conn, "password_hash", user_id)


async def role_and_generation(conn: AsyncConnection, user_id: str) -> Any | None:
    """`(role, token_generation)` of a user, or None: what a freshly issued token carries."""
    return (await conn.execute(text("SELECT role, token_generation FROM users WHERE id = :u"),
                               {"u": user_id})).first()


async def user_id_of(conn: AsyncConnection, *, user_id: str | None = None, email: str | None = None) -> str | None:
    """The id of the user named by id or by (normalized) email, if there is one."""
    column, value = ("id", user_id) if user_id is not None else ("email", email)
    return (await conn.execute(text(f"SELECT id FROM users WHERE {column} = :v"), {"v": value})).scalar()


async def lock_user(conn: AsyncConnection, user_id: str) -> None:
    """Hold the user's row until the transaction ends (PostgreSQL): per-user work one at a time."""
    await conn.execute(text("SELECT id FROM users WHERE id = :u FOR UPDATE"), {"u": user_id})


async def end_tokens(conn: AsyncConnection, user_id: str) -> None:
    """Void every access token issued so far: tokens carry the generation they were issued at."""
    await conn.execute(
        text("UPDATE users SET token_generation = token_generation + 1, updated_at = :now WHERE id = :u"),
        {"u": user_id, "now": now_ms()},
    )
