"""The `jobs` table: the one module that reads and writes it.

Every state change is a compare-and-set on the row's current state (and, for a worker's steps,
on its lease), so two replicas, a webhook and a cancel can race over one job and exactly one of
them moves it. `settle` is the final one: `settled_at` goes from NULL to a time once.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp.db import Database, cached_text
from smarthub_mcp.errors import InvalidRequest
from smarthub_mcp.ids import now_ms
from smarthub_mcp.jobs.errors import JobNotFound
from smarthub_mcp.pages import page, row_id, where

OPEN = ("queued", "submitting", "running", "unknown")
FINAL = ("succeeded", "failed", "cancelled")
MAX_LIMIT = 100
_ID_RE = re.compile(r"^job_[0-9a-z]{26}$")
_COLUMNS = (
    "id, owner_id, kind, tool, model, status, request, price, estimate, hold_id, provider, upstream_model,"
    " upstream_id, upstream_state, submits, polls, progress, delivered, flagged, held, charged, error_code,"
    " error_message, lease_owner, lease_until, next_check_at, deadline_at, request_id, created_at, updated_at,"
    " settled_at"
)


@dataclass(frozen=True)
class Job:
    id: str
    owner_id: str
    kind: str
    tool: str
    model: str
    status: str
    request: str
    price: str
    estimate: int
    hold_id: str | None
    provider: str | None
    upstream_model: str | None
    upstream_id: str | None
    upstream_state: str | None
    submits: int
    polls: int
    progress: int | None
    delivered: int
    flagged: int
    held: int
    charged: int | None
    error_code: str | None
    error_message: str | None
    lease_owner: str | None
    lease_until: int | None
    next_check_at: int
    deadline_at: int
    request_id: str | None
    created_at: int
    updated_at: int
    settled_at: int | None

    @classmethod
    def from_row(cls, row: Any) -> Job:
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})

    @property
    def settled(self) -> bool:
        return self.settled_at is not None

    def request_data(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.request)
        return data

    def state_data(self) -> dict[str, str]:
        data: dict[str, str] = json.loads(self.upstream_state) if self.upstream_state else {}
        return data


def check_job_id(job_id: str) -> str:
    """A well-formed id, or JobNotFound (a malformed one names nothing)."""
    if not isinstance(job_id, str) or not _ID_RE.match(job_id):
        raise JobNotFound("no such job")
    return job_id


async def insert(conn: AsyncConnection, values: dict[str, Any]) -> None:
    """Write a new job row (inside the transaction that holds its credits)."""
    cols = list(values)
    await conn.execute(cached_text(
        f"INSERT INTO jobs ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})"
    ), values)


async def get(db: Database | AsyncConnection, job_id: str) -> Job | None:
    sql = cached_text(f"SELECT {_COLUMNS} FROM jobs WHERE id = :id")
    if isinstance(db, AsyncConnection):
        row = (await db.execute(sql, {"id": job_id})).first()
    else:
        row = await db.fetch_one(f"SELECT {_COLUMNS} FROM jobs WHERE id = :id", {"id": job_id})
    return Job.from_row(row) if row is not None else None


async def get_for(db: Database, owner_id: str, job_id: str) -> Job:
    """The owner's job; JobNotFound for a missing or someone else's id."""
    job = await get(db, check_job_id(job_id))
    if job is None or job.owner_id != owner_id:
        raise JobNotFound("no such job")
    return job


async def list_for(db: Database, owner_id: str, *, limit: int = 20, cursor: str | None = None,
                   status: str | None = None) -> tuple[list[Job], str | None]:
    """The owner's jobs, newest first, optionally in one status."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"limit must be between 1 and {MAX_LIMIT}", details={"field": "limit"})
    if cursor is not None and not _ID_RE.match(cursor):
        raise InvalidRequest("cursor is not a valid cursor", details={"field": "cursor"})
    params: dict[str, Any] = {"owner": owner_id, "n": limit + 1}
    more = where(params, [("id < :cursor", "cursor", cursor), ("status = :status", "status", status)])
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM jobs WHERE owner_id = :owner AND {more} ORDER BY id DESC LIMIT :n", params
    )
    shown, next_cursor = page(rows, limit, row_id)
    return [Job.from_row(r) for r in shown], next_cursor


async def open_stats(db: Database) -> tuple[dict[str, int], int | None]:
    """Unsettled jobs by status, and when the oldest of them was created (None: none open)."""
    rows = await db.fetch("SELECT status, count(*) AS n, min(created_at) AS oldest FROM jobs"
                          " WHERE settled_at IS NULL GROUP BY status")
    oldest = min((r.oldest for r in rows), default=None)
    return {r.status: int(r.n) for r in rows}, oldest


# --- leases -------------------------------------------------------------------------------------


async def due(db: Database, now: int, limit: int) -> list[str]:
    """Unsettled jobs whose next step is due and whom no live lease covers, oldest due first."""
    rows = await db.fetch(
        "SELECT id FROM jobs WHERE settled_at IS NULL AND next_check_at <= :now"
        " AND (lease_until IS NULL OR lease_until < :now) ORDER BY next_check_at LIMIT :n",
        {"now": now, "n": limit},
    )
    return [r.id for r in rows]


async def claim(db: Database, job_id: str, owner: str, lease_ms: int) -> Job | None:
    """Take the job's lease if nobody holds a live one; the job as claimed, or None."""
    now = now_ms()
    async with db.write() as conn:
        result = await conn.execute(cached_text(
            "UPDATE jobs SET lease_owner = :me, lease_until = :until, updated_at = :now WHERE id = :id"
            " AND settled_at IS NULL AND (lease_until IS NULL OR lease_until < :now)"
        ), {"me": owner, "until": now + lease_ms, "now": now, "id": job_id})
        if result.rowcount != 1:
            return None
        return await get(conn, job_id)


async def renew(db: Database, job_id: str, owner: str, lease_ms: int) -> bool:
    """Push our lease out; False when it is no longer ours (taken over, or the job is settled)."""
    now = now_ms()
    async with db.write() as conn:
        result = await conn.execute(cached_text(
            "UPDATE jobs SET lease_until = :until WHERE id = :id AND lease_owner = :me AND settled_at IS NULL"
        ), {"until": now + lease_ms, "id": job_id, "me": owner})
    return result.rowcount == 1


async def move(db: Database | AsyncConnection, job_id: str, owner: str | None, from_status: tuple[str, ...],
               *, nudged_after: int | None = None, **changes: Any) -> bool:
    """Compare-and-set: apply `changes` if the job is unsettled, in one of `from_status`, and (when
    `owner` is given) still leased by `owner`. True when this call moved it.

    `nudged_after` (with a `next_check_at` change): a check time set after that moment (a provider's
    callback, `JobEngine.check_soon`, while the caller's step ran) stands instead of the new one."""
    values = {**changes, "updated_at": now_ms()}
    sets = ", ".join(f"{k} = :{k}" for k in values if not (k == "next_check_at" and nudged_after is not None))
    if nudged_after is not None and "next_check_at" in values:
        sets += (", next_check_at = CASE WHEN next_check_at > :nudged_after THEN next_check_at"
                 " ELSE :next_check_at END")
    statuses = ", ".join(f"'{s}'" for s in from_status)
    lease = " AND lease_owner = :owner" if owner is not None else ""
    sql = cached_text(
        f"UPDATE jobs SET {sets} WHERE id = :id AND settled_at IS NULL AND status IN ({statuses}){lease}"
    )
    params = {**values, "id": job_id, "owner": owner, "nudged_after": nudged_after}
    if isinstance(db, AsyncConnection):
        return (await db.execute(sql, params)).rowcount == 1
    async with db.write() as conn:
        return (await conn.execute(sql, params)).rowcount == 1


def encode(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), sort_keys=True)
