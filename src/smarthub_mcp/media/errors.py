"""Errors of the media package: one class, one stable code, per broken rule."""

from __future__ import annotations

from smarthub_mcp.errors import Forbidden, InvalidRequest, NotFound, SmartHubError


class MediaNotFound(NotFound):
    """Also what another user's media looks like: invisible, not forbidden."""

    code = "media_not_found"


class InvalidMedia(InvalidRequest):
    """Bytes that are not what they claim (an image Pillow cannot read), or a type we do not keep."""

    code = "invalid_media"


class MediaLinkInvalid(Forbidden):
    """A download link whose signature does not match its object and expiry (altered or forged)."""

    code = "media_link_invalid"


class MediaLinkExpired(Forbidden):
    code = "media_link_expired"


class StorageUnavailable(SmartHubError):
    """The object store did not answer or refused us; the operation may be retried."""

    code = "storage_unavailable"
    status = 503
    logged_where_raised = True
    default_retry_after = 5
