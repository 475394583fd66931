"""The objects a running server shares: settings, the store, and the services built on them.

Built once per app (or per CLI command, or per test) and handed down explicitly; there are no
module-level singletons, so two apps in one process (two replicas in a test) stay apart.
Packages add their service here as they arrive.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp.config import AppConfig
from smarthub_mcp.db import Database

if TYPE_CHECKING:
    from smarthub_mcp.identity.service import Identity

UserCreatedHook = Callable[[AsyncConnection, str], Awaitable[None]]
"""Called inside the transaction that creates a user, with that transaction's connection and the
user id: the ledger opens the credit account and grants the sign-up credits here, so a user never
exists without an account."""


@dataclass
class Services:
    config: AppConfig
    db: Database
    user_created_hooks: list[UserCreatedHook] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def settings(self):  # type: ignore[no-untyped-def]
        return self.config.settings

    @property
    def secrets(self):  # type: ignore[no-untyped-def]
        return self.config.secrets

    @functools.cached_property
    def identity(self) -> Identity:
        """Key material and the role cache; raises ConfigError when the signing keys are unusable."""
        from smarthub_mcp.identity.service import Identity

        return Identity(self)

    @classmethod
    def create(cls, config: AppConfig, *, db: Database | None = None) -> Services:
        return cls(config=config, db=db or Database(config.secrets.database_url))

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Services]:
        """Start background work for the lifetime of a server; close the store afterwards."""
        try:
            yield self
        finally:
            await self.db.close()
