"""Managing promo codes (permission `promo:manage`): create, list with analytics, change, deactivate.

Deactivating is the only way to "delete": redemptions stay in the books, and so does the code.
Times are epoch milliseconds in the store and the API; inputs also accept ISO 8601 strings.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from smarthub_mcp.billing.errors import PromoCodeTaken
from smarthub_mcp.billing.money import format_credits
from smarthub_mcp.billing.promo import CODE_COLUMNS
from smarthub_mcp.billing.promo_codes import generate_code, normalize_code
from smarthub_mcp.credits import Credits
from smarthub_mcp.errors import InvalidRequest, NotFound
from smarthub_mcp.identity.audit import write_audit
from smarthub_mcp.ids import MAX_EPOCH_MS, new_id, now_ms
from smarthub_mcp.services import Services


def to_ms(value: Any) -> Any:
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("a time is epoch milliseconds or an ISO 8601 string") from None
        if moment.tzinfo is None:
            raise ValueError("an ISO 8601 time needs a time zone (e.g. Z)")
        return int(moment.timestamp() * 1000)
    return value


Millis = Annotated[int, BeforeValidator(to_ms), Field(ge=0, le=MAX_EPOCH_MS)]


class PromoChanges(BaseModel):
    """Fields an admin may set on a code (all optional on update)."""

    model_config = ConfigDict(extra="forbid")

    # What the store cannot hold empty is not nullable here either: `null` is a 400, not a 500.
    description: str = Field("", max_length=500)
    credits: Credits | None = Field(None, gt=0)
    max_redemptions: int | None = Field(None, ge=1, le=1_000_000_000)
    starts_at: Millis | None = None
    expires_at: Millis | None = None
    new_users_only: bool = False
    active: bool = True


class PromoCreate(PromoChanges):
    code: str | None = Field(None, description="Leave out to generate an unambiguous 10-character code.")
    credits: Credits = Field(gt=0)


def code_view(row: Any) -> dict[str, Any]:
    m = row._mapping
    return {
        "id": m["id"],
        "code": m["code"],
        "description": m["description"],
        "credits": format_credits(m["credits"]),
        "max_redemptions": m["max_redemptions"],
        "starts_at": m["starts_at"],
        "expires_at": m["expires_at"],
        "new_users_only": bool(m["new_users_only"]),
        "active": bool(m["active"]),
        "created_by": m["created_by"],
        "created_at": m["created_at"],
        "updated_at": m["updated_at"],
        "analytics": {
            "redemptions": m["redemptions_count"],
            "credits_granted": format_credits(m["credits_granted"]),
            "last_redeemed_at": m["last_redeemed_at"],
        },
    }


def _check_window(starts_at: int | None, expires_at: int | None) -> None:
    if starts_at is not None and expires_at is not None and starts_at >= expires_at:
        raise InvalidRequest("expires_at must be after starts_at")


async def create_code(services: Services, spec: PromoCreate, *, actor_id: str | None) -> dict[str, Any]:
    _check_window(spec.starts_at, spec.expires_at)
    if spec.code is not None:
        code = normalize_code(spec.code)
        if not code:
            raise InvalidRequest("a code has 3 to 40 letters and digits (spaces and dashes are ignored)")
        candidates = [code]
    else:
        candidates = [generate_code() for _ in range(5)]  # a collision is ~1 in 10^14; retry anyway
    now = now_ms()
    for code in candidates:
        code_id = new_id("promo")
        try:
            async with services.db.write() as conn:
                await conn.execute(
                    text(
                        "INSERT INTO promo_codes (id, code, description, credits, max_redemptions, starts_at,"
                        " expires_at, new_users_only, active, created_by, created_at, updated_at) VALUES"
                        " (:id, :code, :d, :cr, :mx, :st, :ex, :nu, :act, :by, :now, :now)"
                    ),
                    {"id": code_id, "code": code, "d": spec.description, "cr": spec.credits,
                     "mx": spec.max_redemptions, "st": spec.starts_at, "ex": spec.expires_at,
                     "nu": spec.new_users_only, "act": spec.active, "by": actor_id, "now": now},
                )
                await _audit(conn, actor_id, "promo.created", code_id, {"code": code, "credits": spec.credits})
        except IntegrityError:
            continue
        return await get_code(services, code_id)
    raise PromoCodeTaken("That promo code already exists.", details={"code": candidates[-1]})


async def get_code(services: Services, code_id: str) -> dict[str, Any]:
    async with services.db.read() as conn:
        row = (await conn.execute(text(f"SELECT {CODE_COLUMNS} FROM promo_codes WHERE id = :id"),
                                  {"id": code_id})).first()
    if row is None:
        raise NotFound("no such promo code", details={"id": code_id})
    return code_view(row)


async def list_codes(services: Services, *, active: bool | None = None) -> list[dict[str, Any]]:
    sql = f"SELECT {CODE_COLUMNS} FROM promo_codes"
    params: dict[str, Any] = {}
    if active is not None:
        sql += " WHERE active = :a"
        params["a"] = active
    async with services.db.read() as conn:
        rows = list(await conn.execute(text(sql + " ORDER BY id DESC"), params))
    return [code_view(r) for r in rows]


async def update_code(
    services: Services, code_id: str, changes: PromoChanges, *, actor_id: str | None
) -> dict[str, Any]:
    values = changes.model_dump(exclude_unset=True)
    if not values:
        return await get_code(services, code_id)
    async with services.db.write() as conn:
        row = (await conn.execute(text(f"SELECT {CODE_COLUMNS} FROM promo_codes WHERE id = :id"),
                                  {"id": code_id})).first()
        if row is None:
            raise NotFound("no such promo code", details={"id": code_id})
        merged = {**row._mapping, **values}
        _check_window(merged["starts_at"], merged["expires_at"])
        if merged["max_redemptions"] is not None and merged["max_redemptions"] < row.redemptions_count:
            raise InvalidRequest("max_redemptions cannot be below the redemptions already made",
                                 details={"redemptions": row.redemptions_count})
        if values.get("credits") is None:
            values.pop("credits", None)
        sets = ", ".join(f"{k} = :{k}" for k in values)
        await conn.execute(text(f"UPDATE promo_codes SET {sets}, updated_at = :now WHERE id = :id"),
                           {**values, "now": now_ms(), "id": code_id})
        await _audit(conn, actor_id, "promo.updated", code_id, values)
    return await get_code(services, code_id)


async def deactivate_code(services: Services, code_id: str, *, actor_id: str | None) -> dict[str, Any]:
    return await update_code(services, code_id, PromoChanges(active=False), actor_id=actor_id)


async def find_code_id(services: Services, code_or_id: str) -> str:
    """The CLI accepts a code or its id."""
    async with services.db.read() as conn:
        found = (await conn.execute(text("SELECT id FROM promo_codes WHERE id = :v OR code = :c"),
                                    {"v": code_or_id, "c": normalize_code(code_or_id)})).scalar()
    if found is None:
        raise NotFound("no such promo code", details={"code": code_or_id})
    return found


async def _audit(conn: Any, actor_id: str | None, action: str, target: str, after: dict[str, Any]) -> None:
    await write_audit(conn, actor_id=actor_id, action=action, target_type="promo_code", target_id=target, after=after)
