"""The media library (`media` table): the one module that reads and writes it.

Every generated output is stored first (`store_output`: the object and its preview, into
`Storage`), then recorded (`record`): a row is only ever written for bytes that exist, and the jobs
engine calls `save_output` (both) before a job counts as delivered. Reads and deletes take the
owner: another user's media id answers exactly as a missing one (`MediaNotFound`). A deleted item
keeps its row (`deleted_at`) for the books, and loses its stored object and preview; deleting again
removes them again (a retry after a store outage finishes the job) and succeeds.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, fields
from typing import Any

import anyio.to_thread
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp.db import Database
from smarthub_mcp.errors import Conflict, InvalidRequest
from smarthub_mcp.ids import new_id, now_ms
from smarthub_mcp.media.errors import MediaNotFound
from smarthub_mcp.media.keys import content_type_for, extension_for, kind_of
from smarthub_mcp.media.poster import inspect_video
from smarthub_mcp.media.storage import Storage
from smarthub_mcp.media.thumbs import inspect_image, preview
from smarthub_mcp.pages import page, row_id, where

log = logging.getLogger("smarthub.media")

ID_PREFIX = "med"
MAX_LIMIT = 100
MAX_PROMPT_CHARS = 10_000
_ID_RE = re.compile(r"^[a-z]{1,16}_[0-9a-z]{26}$")
_COLUMNS = ("id, owner_id, job_id, kind, prompt, model, provider, width, height, bytes, content_type, cost,"
            " storage_key, preview_key, created_at, deleted_at")


@dataclass(frozen=True)
class MediaMeta:
    """What the caller knows about an output. Width and height are read from an image when absent;
    `media_id` may be chosen ahead (e.g. by a job), which makes saving the same output twice safe."""

    prompt: str = ""
    model: str | None = None
    provider: str | None = None
    cost: int = 0
    job_id: str | None = None
    width: int | None = None
    height: int | None = None
    media_id: str | None = None
    held: bool = False
    """Held for review (moderation): recorded, but not listed nor served until an admin approves it."""

    def __post_init__(self) -> None:
        if not isinstance(self.cost, int) or self.cost < 0:
            raise InvalidRequest("cost is a whole, non-negative number of micro-credits")


@dataclass(frozen=True)
class MediaItem:
    id: str
    owner_id: str
    job_id: str | None
    kind: str
    prompt: str
    model: str | None
    provider: str | None
    width: int | None
    height: int | None
    bytes: int
    content_type: str
    cost: int
    storage_key: str
    preview_key: str | None
    created_at: int
    deleted_at: int | None

    @property
    def preview_content_type(self) -> str | None:
        return content_type_for(self.preview_key) if self.preview_key else None

    @classmethod
    def from_row(cls, row: Any) -> MediaItem:
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})


@dataclass(frozen=True)
class StoredOutput:
    """An output written to storage, not yet recorded."""

    media_id: str
    owner_id: str
    storage_key: str
    preview_key: str | None
    content_type: str
    size: int
    width: int | None
    height: int | None


def check_media_id(media_id: str) -> str:
    """A well-formed id, or MediaNotFound (a malformed one names nothing)."""
    if not isinstance(media_id, str) or not _ID_RE.match(media_id):
        raise MediaNotFound("no such media")
    return media_id


async def store_output(storage: Storage, owner_id: str, data: bytes, content_type: str,
                       meta: MediaMeta) -> StoredOutput:
    """Write the object and, for an image, its preview. An image's type and size come from its bytes."""
    media_id = check_media_id(meta.media_id) if meta.media_id else new_id(ID_PREFIX)
    width, height = meta.width, meta.height
    if kind_of(content_type) == "image":
        facts = inspect_image(data)
        content_type, width, height = facts.content_type, facts.width, facts.height
    key = f"{owner_id}/{media_id}.{extension_for(content_type)}"
    preview_key = None
    small: tuple[bytes, str] | None = None
    if content_type.startswith("image/"):
        # Before anything is written (a damaged image fails here), and off the event loop: decoding
        # and re-encoding an image is tens of milliseconds of CPU.
        small = await anyio.to_thread.run_sync(preview, data, content_type)
    elif content_type.startswith("video/"):
        video = await anyio.to_thread.run_sync(inspect_video, data)  # its poster frame, when it decodes
        if video is not None:
            small, width, height = video.poster, width or video.width, height or video.height
    if small is not None:
        preview_key = f"{owner_id}/{media_id}-preview.{extension_for(small[1])}"
    await storage.put(key, data, content_type)
    if small is not None and preview_key is not None:
        try:
            await storage.put(preview_key, small[0], small[1])
        except BaseException:
            await _forget(storage, key)
            raise
    return StoredOutput(media_id, owner_id, key, preview_key, content_type, len(data), width, height)


async def record(db: Database | AsyncConnection, stored: StoredOutput, meta: MediaMeta) -> MediaItem:
    """Write the library row for a stored output (inside `db` when it is an open transaction).
    Recording the same media id again returns the first row."""
    params = {
        "id": stored.media_id, "owner": stored.owner_id, "job": meta.job_id, "kind": kind_of(stored.content_type),
        "prompt": meta.prompt[:MAX_PROMPT_CHARS], "model": meta.model, "provider": meta.provider,
        "width": stored.width, "height": stored.height, "bytes": stored.size, "ct": stored.content_type,
        "cost": meta.cost, "key": stored.storage_key, "pkey": stored.preview_key, "now": now_ms(),
        "review": "held" if meta.held else None,
    }
    sql = text(
        f"INSERT INTO media ({_COLUMNS}, review) VALUES (:id, :owner, :job, :kind, :prompt, :model, :provider,"
        " :width, :height, :bytes, :ct, :cost, :key, :pkey, :now, NULL, :review) ON CONFLICT (id) DO NOTHING"
    )
    select = text(f"SELECT {_COLUMNS} FROM media WHERE id = :id")
    if isinstance(db, AsyncConnection):
        await db.execute(sql, params)
        row = (await db.execute(select, {"id": stored.media_id})).one()
    else:
        async with db.write() as conn:
            await conn.execute(sql, params)
            row = (await conn.execute(select, {"id": stored.media_id})).one()
    item = MediaItem.from_row(row)
    if item.owner_id != stored.owner_id or item.storage_key != stored.storage_key:
        raise Conflict("this media id is already taken")
    return item


async def save_output(storage: Storage, db: Database, owner_id: str, data: bytes, content_type: str,
                      meta: MediaMeta) -> MediaItem:
    """Store an output and its preview, then record it: what a job does before it counts as delivered.
    If the row cannot be written, the objects just written are removed again."""
    stored = await store_output(storage, owner_id, data, content_type, meta)
    try:
        return await record(db, stored, meta)
    except BaseException:
        if meta.media_id is None:  # a chosen id may already be recorded by an earlier attempt
            await _forget(storage, stored.storage_key, stored.preview_key)
        raise


async def list_for(db: Database, owner_id: str, limit: int = 50,
                   cursor: str | None = None) -> tuple[list[MediaItem], str | None]:
    """The owner's media, newest first; pass the returned cursor for the next page (None: no more)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"limit must be between 1 and {MAX_LIMIT}", details={"field": "limit"})
    if cursor is not None and not _ID_RE.match(cursor):
        raise InvalidRequest("cursor is not a valid cursor", details={"field": "cursor"})
    params: dict[str, Any] = {"owner": owner_id, "n": limit + 1}
    after = where(params, [("id < :cursor", "cursor", cursor)])
    async with db.read() as conn:
        rows = list(await conn.execute(text(
            f"SELECT {_COLUMNS} FROM media WHERE owner_id = :owner AND deleted_at IS NULL AND review IS NULL"
            f" AND {after} ORDER BY id DESC LIMIT :n"
        ), params))
    shown, next_cursor = page(rows, limit, row_id)
    return [MediaItem.from_row(r) for r in shown], next_cursor


async def for_job(db: Database, owner_id: str, job_id: str) -> list[MediaItem]:
    """The owner's live outputs of one job, in the order the job produced them."""
    async with db.read() as conn:
        rows = list(await conn.execute(text(
            f"SELECT {_COLUMNS} FROM media WHERE owner_id = :owner AND job_id = :job AND deleted_at IS NULL"
            " AND review IS NULL"
            " ORDER BY id"
        ), {"owner": owner_id, "job": job_id}))
    return [MediaItem.from_row(r) for r in rows]


async def _find(conn: AsyncConnection, owner_id: str, media_id: str) -> MediaItem | None:
    row = (await conn.execute(
        text(f"SELECT {_COLUMNS} FROM media WHERE id = :id AND owner_id = :owner AND review IS NULL"),
        {"id": check_media_id(media_id), "owner": owner_id},
    )).first()
    return MediaItem.from_row(row) if row else None


async def get_for(db: Database, owner_id: str, media_id: str) -> MediaItem:
    """The owner's live item; MediaNotFound for a missing, deleted or someone else's id."""
    async with db.read() as conn:
        item = await _find(conn, owner_id, media_id)
    if item is None or item.deleted_at is not None:
        raise MediaNotFound("no such media")
    return item


async def delete_for(storage: Storage, db: Database, owner_id: str, media_id: str) -> MediaItem:
    """Delete the owner's item: mark the row, then remove its object and preview. Safe to repeat."""
    async with db.write() as conn:
        item = await _find(conn, owner_id, media_id)
        if item is None:
            raise MediaNotFound("no such media")
        if item.deleted_at is None:
            await conn.execute(text("UPDATE media SET deleted_at = :now WHERE id = :id AND deleted_at IS NULL"),
                               {"now": now_ms(), "id": item.id})
    for key in (item.storage_key, item.preview_key):
        if key:
            await storage.delete(key)
    return item


async def get_held(db: Database, media_id: str) -> MediaItem:
    """An output held for review, for the admin deciding it (whoever owns it)."""
    item = (await by_ids(db, [media_id])).get(media_id)
    if item is None:
        raise MediaNotFound("no such media")
    return item


async def by_ids(db: Database, media_ids: list[str]) -> dict[str, MediaItem]:
    """Media rows by id, whoever owns them, in one query (the admin review queue); absent ids are
    left out."""
    if not media_ids:
        return {}
    names = {f"m{i}": check_media_id(m) for i, m in enumerate(media_ids)}
    async with db.read() as conn:
        rows = await conn.execute(text(
            f"SELECT {_COLUMNS} FROM media WHERE id IN ({', '.join(':' + n for n in names)})"), names)
        items = [MediaItem.from_row(r) for r in rows]
    return {item.id: item for item in items}


async def release_held(conn: AsyncConnection, media_id: str, cost: int) -> bool:
    """An approved output joins its owner's library at `cost`. False when it was not held."""
    moved = await conn.execute(text("UPDATE media SET review = NULL, cost = :c WHERE id = :id AND review = 'held'"),
                               {"c": cost, "id": media_id})
    return moved.rowcount == 1


async def reject_held(conn: AsyncConnection, media_id: str) -> bool:
    """A rejected output: marked rejected and deleted (the caller removes its files after commit)."""
    moved = await conn.execute(text(
        "UPDATE media SET review = 'rejected', deleted_at = :now WHERE id = :id AND review = 'held'"),
        {"now": now_ms(), "id": media_id})
    return moved.rowcount == 1


async def forget_files(storage: Storage, item: MediaItem) -> None:
    """Remove a deleted item's object and preview (an orphan left by a failure is only space)."""
    await _forget(storage, item.storage_key, item.preview_key)


async def _forget(storage: Storage, *keys: str | None) -> None:
    for key in keys:
        if key:
            try:
                await storage.delete(key)
            except Exception:  # the original failure matters more; an orphan file is only space
                log.warning("could not remove %s after a failed save", key)

