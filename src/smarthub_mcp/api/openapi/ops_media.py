"""Documented operations: the caller's media library."""

from __future__ import annotations

from smarthub_mcp.api.openapi.spec import CURSOR, Operation, limit, path
from smarthub_mcp.media import library
from smarthub_mcp.media.views import MediaOut, MediaPage
from smarthub_mcp.tools.media import MEDIA_PERMISSION, MediaDeleted

MEDIA = "media"
# Named, not generated: `get_media` and `delete_media` are the media tools' operation ids.
ID = path("id", "A media id (`med_...`).")

OPERATIONS = [
    Operation("GET", "/media", "Your media, newest first", MEDIA, response=MediaPage, permission=MEDIA_PERMISSION,
              params=(limit(50, library.MAX_LIMIT), CURSOR), operation_id="list_media_items",
              description="Each item carries a download link valid for a limited time."),
    Operation("GET", "/media/{id}", "One of your media, with a fresh download link", MEDIA, response=MediaOut,
              params=(ID,), permission=MEDIA_PERMISSION, operation_id="get_media_item"),
    Operation("DELETE", "/media/{id}", "Delete one of your media and its stored files", MEDIA,
              response=MediaDeleted, params=(ID,), permission=MEDIA_PERMISSION, operation_id="delete_media_item"),
]
