"""`media://{media_id}`: each user's generated media as MCP resources, readable by its owner only.

The SDK's resources are global to a server, but media is per user, so a server middleware answers
for the `media://` scheme itself, for the principal of the request, from the library: the template
is listed, the caller's newest items are listed, and a read returns the image as a blob with its
own MIME type, or its preview when the original is too large for a client to take in one message
(Claude Desktop refuses results over 1 MiB). A video without a preview reads as its download link.
Another user's id, a malformed one and a missing one give the same error; so does lacking the
permission.
"""

from __future__ import annotations

import base64
from typing import Any

from mcp.server.context import CallNext, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp.types import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    BlobResourceContents,
    ReadResourceResult,
    Resource,
    ResourceTemplate,
    TextResourceContents,
)

from smarthub_mcp.errors import SmartHubError
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.media import library
from smarthub_mcp.media.errors import MediaNotFound
from smarthub_mcp.media.library import MediaItem
from smarthub_mcp.services import Services
from smarthub_mcp.tools.binding import PrincipalSource
from smarthub_mcp.tools.media import MEDIA_PERMISSION

SCHEME = "media://"
TEMPLATE = ResourceTemplate(
    uri_template="media://{media_id}",
    name="media",
    title="Your generated media",
    description="An image or video you generated, by its media_id (as list_media shows). Images up to"
    " 700 KB come whole; larger ones as a preview of at most 200 KB.",
)
RESOURCE_MAX_BYTES = 700_000
"""Largest original sent whole: base64 makes it ~933 KB, under Claude Desktop's 1 MiB per message."""
LISTED = 50
PREVIEW_META = "smarthub/preview"


def refused(exc: SmartHubError, uri: str | None = None) -> MCPError:
    code = INTERNAL_ERROR if exc.status >= 500 else INVALID_PARAMS
    data = exc.to_dict()["error"] | ({"uri": uri} if uri else {})
    return MCPError(code, exc.message, data)


def wire(model: Any) -> dict[str, Any]:
    return dict(model.model_dump(by_alias=True, exclude_none=True, mode="json"))


async def _list(services: Services, principal: Principal) -> list[dict[str, Any]]:
    if not principal.can(MEDIA_PERMISSION):
        return []
    items, _ = await library.list_for(services.db, principal.user_id, LISTED)
    return [
        wire(Resource(uri=f"{SCHEME}{m.id}", name=m.id, title=(m.prompt[:80] or m.id),
                       description=f"{m.kind} from {m.model or 'an unknown model'}", mime_type=m.content_type,
                       size=m.bytes))
        for m in items
    ]


async def _read(services: Services, principal: Principal, uri: str) -> ReadResourceResult:
    media_id = uri[len(SCHEME):]
    if not principal.can(MEDIA_PERMISSION):
        raise MediaNotFound("no such media")
    item: MediaItem = await library.get_for(services.db, principal.user_id, media_id)
    storage = services.storage
    if item.kind == "image" and item.bytes <= RESOURCE_MAX_BYTES:
        data, mime, meta = await storage.get(item.storage_key), item.content_type, None
    elif item.preview_key:
        data, mime = await storage.get(item.preview_key), item.preview_content_type or "image/jpeg"
        meta = {PREVIEW_META: True}
    else:
        link = storage.url(item.storage_key, expires_in=services.settings.storage.url_ttl_seconds)
        return ReadResourceResult(contents=[TextResourceContents(uri=uri, text=link, mime_type="text/uri-list")])
    blob = base64.b64encode(data).decode("ascii")
    return ReadResourceResult(contents=[BlobResourceContents(uri=uri, blob=blob, mime_type=mime, _meta=meta)])


def media_resources_middleware(services: Services, principal_source: PrincipalSource) -> Any:
    """Answer `resources/read` for `media://` URIs and add the caller's media to the listings."""

    async def middleware(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> Any:
        method = ctx.method
        uri = (ctx.params or {}).get("uri") if method == "resources/read" else None
        mine = method == "resources/read" and isinstance(uri, str) and uri.startswith(SCHEME)
        if not mine and method not in ("resources/list", "resources/templates/list"):
            return await call_next(ctx)
        if method == "resources/templates/list":
            result = await call_next(ctx)
            listed = list(result.get("resourceTemplates", [])) if isinstance(result, dict) else []
            return {**(result if isinstance(result, dict) else {}), "resourceTemplates": [*listed, wire(TEMPLATE)]}
        try:
            principal = await principal_source()
            if method == "resources/list":
                result = await call_next(ctx)
                listed = list(result.get("resources", [])) if isinstance(result, dict) else []
                return {**(result if isinstance(result, dict) else {}),
                        "resources": [*listed, *await _list(services, principal)]}
            await services.rate_limiter.check(principal, "resources/read", 0)
            return await _read(services, principal, str(uri))
        except SmartHubError as exc:
            raise refused(exc, str(uri) if mine else None) from None

    return middleware
