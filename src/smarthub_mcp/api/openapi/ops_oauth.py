"""Documented operations: a user's connected apps (OAuth grants) and the admin's OAuth clients.

The authorization server's own endpoints (/authorize, /token, /revoke, /register) are described by
its metadata at /.well-known/oauth-authorization-server, as OAuth clients expect, not here."""

from __future__ import annotations

from typing import Literal

from smarthub_mcp.api import oauth_admin
from smarthub_mcp.api.openapi.shapes import Millis, Out
from smarthub_mcp.api.openapi.spec import Operation, path

TAG, ADMIN = "connected apps", "admin"


class Grant(Out):
    id: str
    client_id: str
    client_name: str
    client_host: str
    scopes: list[str]
    resources: list[str]
    created_at: Millis
    last_used_at: Millis | None


class GrantList(Out):
    grants: list[Grant]


class GrantRevoked(Out):
    id: str
    status: Literal["revoked"]


class OAuthClient(Out):
    client_id: str
    kind: Literal["config", "dcr", "cimd", "admin"]
    client_name: str
    host: str
    redirect_uris: list[str]
    scopes: list[str]
    confidential: bool
    status: Literal["active", "disabled"]
    created_at: Millis | None


class OAuthClientList(Out):
    clients: list[OAuthClient]


class OAuthClientCreated(OAuthClient):
    client_secret: str


class OAuthClientStatus(Out):
    client_id: str
    status: Literal["active", "disabled"]
    grants_revoked: int


OPERATIONS = [
    Operation("GET", "/oauth/grants", "Your connected apps", TAG, response=GrantList,
              description="The apps (ChatGPT and Claude connectors, GPT actions) you allowed to use your account."),
    Operation("DELETE", "/oauth/grants/{grant_id}", "Disconnect an app", TAG, response=GrantRevoked,
              params=(path("grant_id"),), auth="unscoped", errors=(404,),
              description="Its access and refresh tokens stop working at once."),
    Operation("GET", "/admin/oauth/clients", "The OAuth clients", ADMIN, response=OAuthClientList,
              permission="users:manage",
              description="From config.toml, registered (DCR), metadata documents (CIMD) and made by admins."),
    Operation("POST", "/admin/oauth/clients", "Create a confidential OAuth client", ADMIN,
              oauth_admin.CreateClientBody, OAuthClientCreated, 201, permission="users:manage",
              description="For a Custom GPT action: enter its id and secret (shown in this answer only) in the "
                          "GPT's authentication settings, and its callback URLs here."),
    Operation("PATCH", "/admin/oauth/clients", "Disable or enable an OAuth client", ADMIN,
              oauth_admin.ClientStatusBody, OAuthClientStatus, permission="users:manage", errors=(404,),
              description="Disabling revokes every grant the client holds."),
]
