"""The principal: who is calling, as every route and tool sees it.

Both the MCP `TokenVerifier` and the HTTP authentication produce one of these, from a JWT or an
API key alike; nothing downstream cares which.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from smarthub_mcp.errors import Forbidden

AuthMethod = Literal["jwt", "api_key", "stdio", "oauth", "web"]

JOBS_AND_MEDIA = "tools:media"
"""What the job and media tools and routes need (see a job, list or delete your files): held by
whoever may make images *or* videos. No role or key holds it by name: a connector allowed video
only must still be able to fetch the video it paid for, without being allowed to make images."""
ANY_OF = {JOBS_AND_MEDIA: ("tools:image", "tools:video")}


def permission_text(permission: str, quote: str = "'") -> str:
    """How a permission is named to people: `'tools:image' or 'tools:video'` for one held either way."""
    return " or ".join(f"{quote}{name}{quote}" for name in ANY_OF.get(permission, (permission,)))


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    email: str
    role: str
    permissions: frozenset[str]
    auth_method: AuthMethod
    scopes: frozenset[str] | None = None
    """Scopes the credential was limited to (an API key's scopes); None means the role's full set."""
    token_id: str | None = None
    """The JWT's `jti` or the API key's id: what logout or revocation targets."""
    email_verified: bool = False

    def can(self, permission: str) -> bool:
        """May this principal do `permission`? The role grants it and the credential's scopes allow it."""
        if permission in ANY_OF:
            return any(self.can(name) for name in ANY_OF[permission])
        if permission not in self.permissions:
            return False
        return self.scopes is None or permission in self.scopes

    def require(self, permission: str) -> None:
        if not self.can(permission):
            raise Forbidden(f"this needs the {permission_text(permission)} permission",
                            details={"permission": permission})

    def require_unscoped(self, what: str) -> None:
        """Refuse a credential limited to scopes: `what` (managing API keys) is not a permission a
        scope can name, so only a session or an unscoped key may do it. Otherwise a key made for one
        tool could mint an unscoped key, or revoke its owner's other keys."""
        if self.scopes is not None:
            raise Forbidden(f"{what} needs a session or an unscoped API key; this key is limited to its scopes",
                            details={"scopes": sorted(self.scopes)})
