"""The authorization server's metadata (RFC 8414) and the protected resource's (RFC 9728).

Ours, not the SDK's `build_metadata`: that one omits what Claude needs to choose a metadata
document over registering a new client on every connection (`client_id_metadata_document_supported`
and `none` among the token endpoint auth methods) and the RFC 9207 `iss` flag.
"""

from __future__ import annotations

from typing import Any

from mcp.shared.auth import OAuthMetadata, ProtectedResourceMetadata

from smarthub_mcp.oauth.access import base_url, mcp_resource
from smarthub_mcp.oauth.authorize import issuer
from smarthub_mcp.oauth.scopes import ALL_SCOPES
from smarthub_mcp.services import Services

AUTH_METHODS = ["none", "client_secret_post", "client_secret_basic"]


def authorization_server_metadata(services: Services) -> dict[str, Any]:
    base = base_url(services)
    settings = services.settings.oauth
    metadata = OAuthMetadata(
        issuer=issuer(services),
        authorization_endpoint=f"{base}/authorize",
        token_endpoint=f"{base}/token",
        registration_endpoint=f"{base}/register" if settings.registration_enabled else None,
        revocation_endpoint=f"{base}/revoke",
        revocation_endpoint_auth_methods_supported=AUTH_METHODS,
        scopes_supported=list(ALL_SCOPES),
        response_types_supported=["code"],
        response_modes_supported=["query"],
        grant_types_supported=["authorization_code", "refresh_token"],
        token_endpoint_auth_methods_supported=AUTH_METHODS,
        code_challenge_methods_supported=["S256"],
        service_documentation=f"{base}/docs",
        client_id_metadata_document_supported=settings.metadata_documents_enabled,
        authorization_response_iss_parameter_supported=True,
    )
    return metadata.model_dump(mode="json", exclude_none=True)


def protected_resource_metadata(services: Services) -> dict[str, Any]:
    document = ProtectedResourceMetadata(
        resource=mcp_resource(services),
        authorization_servers=[issuer(services)],
        scopes_supported=list(ALL_SCOPES),
        resource_name="SmartHub MCP",
        resource_documentation=f"{base_url(services)}/docs",
    )
    return document.model_dump(mode="json", exclude_none=True)
