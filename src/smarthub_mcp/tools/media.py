"""The media library as tools: list, show and delete your generated images and videos. Free.

Permission `tools:image` or `tools:video`: whoever may generate images or videos may see and delete
what they generated (a key scoped to either manages its outputs). Another user's media id is "not
found".
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from smarthub_mcp.identity.principal import JOBS_AND_MEDIA
from smarthub_mcp.media import library
from smarthub_mcp.media.views import MediaOut, MediaPage, media_out
from smarthub_mcp.tools.chat import people
from smarthub_mcp.tools.registry import ACCOUNT_CHANGE, READ_ONLY, ToolContext, tool

MEDIA_PERMISSION = JOBS_AND_MEDIA  # tools:image or tools:video


class MediaDeleted(BaseModel):
    media_id: str
    status: str = Field("deleted", description="Always 'deleted': deleting again is not an error.")


def _line(m: MediaOut) -> str:
    size = f"{m.width}x{m.height} " if m.width and m.height else ""
    return f"- {m.media_id} ({m.kind}, {size}{m.model or 'unknown model'}, {people(m.cost)}): {m.prompt[:80]!r}"


def _page_text(out: MediaPage) -> str:
    if not out.items:
        return "No media yet."
    lines = [f"{len(out.items)} item(s), newest first:", *(_line(m) for m in out.items)]
    if out.next_cursor:
        lines.append(f"More: call list_media with cursor={out.next_cursor}")
    return "\n".join(lines)


def _item_text(m: MediaOut) -> str:
    text = _line(m)[2:] + f"\nDownload (valid {m.url_expires_in} s): {m.url}"
    if m.preview_url:
        text += f"\nPreview: {m.preview_url}"
    return text + f"\nResource: media://{m.media_id}"


def _ttl(tc: ToolContext) -> int:
    return tc.services.settings.storage.url_ttl_seconds


@tool(
    name="list_media",
    title="List my generated media",
    permission=MEDIA_PERMISSION,
    paid=False,
    annotations=READ_ONLY,
    summarize=_page_text,
)
async def list_media(
    tc: ToolContext,
    limit: Annotated[int, Field(ge=1, le=library.MAX_LIMIT, description="How many items to show.")] = 20,
    cursor: Annotated[str | None, Field(max_length=64, description="`next_cursor` of the previous page.")] = None,
) -> MediaPage:
    """List the images and videos you generated, newest first, each with its media_id, a download
    link (url) that expires, the prompt, model and credits it cost. Free."""
    items, next_cursor = await library.list_for(tc.services.db, tc.principal.user_id, limit, cursor)
    storage = tc.services.storage
    return MediaPage(items=[media_out(i, storage, _ttl(tc)) for i in items], next_cursor=next_cursor)


@tool(
    name="get_media",
    title="Show one generated image or video",
    permission=MEDIA_PERMISSION,
    paid=False,
    annotations=READ_ONLY,
    summarize=_item_text,
)
async def get_media(tc: ToolContext, media_id: Annotated[str, Field(max_length=64)]) -> MediaOut:
    """Show one of your generated images or videos by media_id: a fresh download link (url), a
    preview link, its size, prompt, model and cost. The image itself is readable as the MCP
    resource media://<media_id>. Free."""
    item = await library.get_for(tc.services.db, tc.principal.user_id, media_id)
    return media_out(item, tc.services.storage, _ttl(tc))


@tool(
    name="delete_media",
    title="Delete a generated image or video",
    permission=MEDIA_PERMISSION,
    paid=False,
    annotations=ACCOUNT_CHANGE.model_copy(update={"destructive_hint": True}),
    summarize=lambda d: f"Deleted {d.media_id}: its file and preview are gone and its links stop working.",
)
async def delete_media(tc: ToolContext, media_id: Annotated[str, Field(max_length=64)]) -> MediaDeleted:
    """Delete one of your generated images or videos: the stored file and its preview are removed
    and its links stop working. Credits already charged are not returned. Free."""
    await library.delete_for(tc.services.storage, tc.services.db, tc.principal.user_id, media_id)
    return MediaDeleted(media_id=media_id)
