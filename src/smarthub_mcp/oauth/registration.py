"""Dynamic Client Registration (RFC 7591), through the MCP SDK's `RegistrationHandler`.

The handler validates the metadata and mints the id and secret; `register_client` here checks the
redirect URIs (https, loopback http or an app's own scheme) and stores the client with only the
hash of its secret. The handler's other provider methods are never called.
"""

from __future__ import annotations

from mcp.server.auth.handlers.register import RegistrationHandler
from mcp.server.auth.provider import RegistrationError
from mcp.server.auth.settings import ClientRegistrationOptions
from mcp.shared.auth import OAuthClientInformationFull

from smarthub_mcp.oauth.clients import redirect_uri_refusal, store_client
from smarthub_mcp.oauth.scopes import ALL_SCOPES
from smarthub_mcp.services import Services


class RegistrationStore:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        uris = [str(u) for u in client_info.redirect_uris or ()]
        for uri in uris:
            refusal = redirect_uri_refusal(uri)
            if refusal:
                raise RegistrationError("invalid_redirect_uri", refusal)
        metadata = client_info.model_dump(mode="json", exclude_none=True, exclude={"client_secret"})
        await store_client(self.services, client_info.client_id, "dcr", metadata, client_info.client_secret)


def registration_handler(services: Services) -> RegistrationHandler:
    options = ClientRegistrationOptions(enabled=True, valid_scopes=list(ALL_SCOPES), default_scopes=list(ALL_SCOPES))
    return RegistrationHandler(RegistrationStore(services), options)  # type: ignore[arg-type]
