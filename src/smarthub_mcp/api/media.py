"""`/api/v1/media`: the caller's media library (list, show, delete), and `GET /media/<key>`, where the
local storage backend's signed download links land.

Library routes need `tools:image` or `tools:video` (as the media tools do); another user's media id
is a 404. The
download route takes no credentials: its signature is the credential (`media/local.py`), checked
before anything else, so a forged or altered link learns nothing, and an expired one says so.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from smarthub_mcp.api.authn import require
from smarthub_mcp.api.params import int_param
from smarthub_mcp.media import library
from smarthub_mcp.media.errors import MediaNotFound
from smarthub_mcp.media.keys import content_type_for
from smarthub_mcp.media.local import LocalStorage
from smarthub_mcp.media.views import MediaPage, media_out
from smarthub_mcp.services import Services
from smarthub_mcp.tools.media import MEDIA_PERMISSION, MediaDeleted


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def list_media(request: Request) -> Response:
    principal = await require(request, MEDIA_PERMISSION)
    services = _services(request)
    items, cursor = await library.list_for(
        services.db, principal.user_id, int_param(request, "limit", 50, low=1, high=library.MAX_LIMIT),
        request.query_params.get("cursor") or None,
    )
    ttl = services.settings.storage.url_ttl_seconds
    page = MediaPage(items=[media_out(i, services.storage, ttl) for i in items], next_cursor=cursor)
    return JSONResponse(page.model_dump(mode="json"))


async def get_media(request: Request) -> Response:
    principal = await require(request, MEDIA_PERMISSION)
    services = _services(request)
    item = await library.get_for(services.db, principal.user_id, request.path_params["id"])
    return JSONResponse(media_out(item, services.storage, services.settings.storage.url_ttl_seconds)
                        .model_dump(mode="json"))


async def delete_media(request: Request) -> Response:
    principal = await require(request, MEDIA_PERMISSION)
    services = _services(request)
    await library.delete_for(services.storage, services.db, principal.user_id, request.path_params["id"])
    return JSONResponse(MediaDeleted(media_id=request.path_params["id"]).model_dump(mode="json"))


async def download(request: Request) -> Response:
    """A signed link of the local backend. Served with headers that keep a browser from running or
    sniffing it as anything but the media it is."""
    storage = _services(request).storage
    if not isinstance(storage, LocalStorage):  # S3 links point at the store itself
        raise MediaNotFound("no such media")
    key = request.path_params["key"]
    left = storage.check_link(key, request.query_params.get("exp"), request.query_params.get("sig"))
    path = storage.path_of(key)
    try:
        stat = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise MediaNotFound("no such media") from None
    if not path.is_file():
        raise MediaNotFound("no such media")
    return FileResponse(
        path,
        stat_result=stat,
        media_type=content_type_for(key),
        content_disposition_type="inline",
        filename=key.rsplit("/", 1)[-1],
        headers={
            "Cache-Control": f"private, max-age={min(left, 86400)}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


def routes() -> list[BaseRoute]:
    return [
        Route("/media", list_media, methods=["GET"]),
        Route("/media/{id}", get_media, methods=["GET"]),
        Route("/media/{id}", delete_media, methods=["DELETE"]),
    ]


download_routes: list[BaseRoute] = [Route("/media/{key:path}", download, methods=["GET"])]
