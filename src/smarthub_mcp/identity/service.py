"""`Identity`: the per-app state identity keeps (key material, role cache), as `services.identity`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from smarthub_mcp.identity.roles import RoleTable
from smarthub_mcp.identity.tokens import TokenCodec, load_signing_keys

if TYPE_CHECKING:
    from smarthub_mcp.services import Services


class Identity:
    def __init__(self, services: Services) -> None:
        auth = services.settings.auth
        self.codec = TokenCodec(auth, load_signing_keys(auth, services.secrets, services.db))
        self.roles = RoleTable(services.db)
