"""The token verifier of /mcp: OAuth access tokens bound to /mcp, beside our own JWTs and API keys."""

from __future__ import annotations

from mcp.server.auth.provider import AccessToken

from smarthub_mcp.identity.verifier import PRINCIPAL_CLAIM, SmartHubTokenVerifier, principal_claims, refused
from smarthub_mcp.oauth.access import is_oauth_token, mcp_resource, principal_for_oauth_token
from smarthub_mcp.services import Services


class OAuthAwareTokenVerifier(SmartHubTokenVerifier):
    """Implements `mcp.server.auth.provider.TokenVerifier`: an OAuth token must name /mcp as its
    audience (a token issued for another resource is refused); anything else goes to the
    session-token and API-key verifier."""

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self.resource = mcp_resource(services)

    async def verify_token(self, token: str) -> AccessToken | None:
        if not is_oauth_token(token):
            return await super().verify_token(token)
        try:
            principal, expires_at = await principal_for_oauth_token(self.services, token, self.resource)
        except Exception as exc:
            refused(exc)
            return None
        return AccessToken(
            token=token,
            client_id=principal.token_id or principal.user_id,
            scopes=sorted(p for p in principal.permissions if principal.can(p)),
            expires_at=expires_at + self.services.settings.auth.leeway_seconds,
            resource=self.resource,
            subject=principal.user_id,
            claims={PRINCIPAL_CLAIM: principal_claims(principal)},
        )
