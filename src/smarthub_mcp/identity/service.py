"""`Identity`: the per-app state identity keeps (key material, role cache), as `services.identity`."""

from __future__ import annotations

import functools

from smarthub_mcp.config import AuthConfig, Secrets
from smarthub_mcp.db import Database
from smarthub_mcp.identity.roles import RoleTable
from smarthub_mcp.identity.tokens import TokenCodec, load_signing_keys


class Identity:
    def __init__(self, auth: AuthConfig, secrets: Secrets, db: Database) -> None:
        self._auth, self._secrets, self._db = auth, secrets, db
        self.roles = RoleTable(db)

    @functools.cached_property
    def codec(self) -> TokenCodec:
        """Loaded on first use, so CLI commands that issue no token (promo codes, credits) run
        without signing keys; the server loads it at start-up (`build_app`), where a bad JWT
        setup must stop it. Raises ConfigError in one line."""
        return TokenCodec(self._auth, load_signing_keys(self._auth, self._secrets, self._db))
