"""How a library item is shown to its owner, the same over MCP and HTTP: `media_id`, `status`,
`url`, `job_id` (the names every structured result uses), a fresh signed link for the object and
its preview, and what made it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from smarthub_mcp.billing.money import format_credits
from smarthub_mcp.media.library import MediaItem
from smarthub_mcp.media.storage import Storage


class MediaOut(BaseModel):
    media_id: str
    status: Literal["ready", "deleted"]
    url: str | None = Field(description="A download link, valid until `url_expires_in` seconds from now.")
    preview_url: str | None = Field(description="A link to a small preview (at most 200 KB), when there is one.")
    url_expires_in: int | None = Field(description="Seconds the links stay valid.")
    job_id: str | None = Field(description="The generation job that made it.")
    kind: str = Field(description="image or video")
    content_type: str
    width: int | None
    height: int | None
    bytes: int
    prompt: str
    model: str | None
    provider: str | None
    cost: str = Field(description="Credits charged for it, as a decimal string.")
    created_at: int = Field(description="Milliseconds since the epoch (UTC).")


class MediaPage(BaseModel):
    items: list[MediaOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page; null: no more.")


def media_out(item: MediaItem, storage: Storage, ttl: int, *, deleted: bool = False) -> MediaOut:
    live = not deleted and item.deleted_at is None
    return MediaOut(
        media_id=item.id,
        status="ready" if live else "deleted",
        url=storage.url(item.storage_key, expires_in=ttl) if live else None,
        preview_url=storage.url(item.preview_key, expires_in=ttl) if live and item.preview_key else None,
        url_expires_in=ttl if live else None,
        job_id=item.job_id,
        kind=item.kind,
        content_type=item.content_type,
        width=item.width,
        height=item.height,
        bytes=item.bytes,
        prompt=item.prompt,
        model=item.model,
        provider=item.provider,
        cost=format_credits(item.cost),
        created_at=item.created_at,
    )
