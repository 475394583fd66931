"""Response shapes of the identity, key, admin and meta routes, for the OpenAPI document.

These answers are built as dicts (`UserRecord.to_json()`, `TokenPair.to_json()`...), so their
shapes are written down here; `extra="forbid"` makes the document strict, and the schema-driven
fuzz test checks every real answer against it, so a field added or dropped in a handler fails a
test until this file says so too.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

CREDITS = r"^-?[0-9]+\.[0-9]{6}$"
Millis = int


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


def credits_field(description: str = "Credits as a decimal string with six places.") -> Any:
    return Field(pattern=CREDITS, description=description, examples=["12.500000"])


class User(Out):
    id: str
    email: str
    display_name: str
    role: str
    status: str = Field(description="`active` or `disabled`.")
    email_verified: bool
    created_at: Millis
    updated_at: Millis


class TokenPair(Out):
    access_token: str = Field(description="A JWT, valid `expires_in` seconds.")
    refresh_token: str = Field(description="Works once: trade it at /auth/refresh for a new pair.")
    token_type: Literal["bearer"]
    expires_in: int


class Registered(TokenPair):
    user: User


class Me(User):
    permissions: list[str]
    auth_method: str = Field(description="`jwt` or `api_key`.")
    scopes: list[str] | None = Field(description="The API key's scopes; null when unscoped.")


class Status(Out):
    status: str


class Verified(Out):
    status: Literal["verified"]
    user: User


class ResendStatus(Out):
    status: Literal["sent", "already_verified"]


class PasswordReset(Out):
    status: Literal["password_reset"]
    api_keys_revoked: int


class ApiKey(Out):
    id: str
    name: str
    prefix: str = Field(description="The key's first characters, to tell keys apart.")
    scopes: list[str] | None
    expires_at: Millis | None
    last_used_at: Millis | None
    created_at: Millis
    revoked_at: Millis | None


class ApiKeyCreated(ApiKey):
    key: str = Field(description="The key itself (`shk_...`), shown this once only.")


class ApiKeyList(Out):
    keys: list[ApiKey]


class ApiKeyRevoked(Out):
    status: Literal["revoked"]
    key: ApiKey


class UserPage(Out):
    users: list[User]
    next_cursor: str | None


class UserUpdated(Out):
    user: User


class Role(Out):
    name: str
    parent: str | None
    seniority: int
    description: str
    permissions: list[str] = Field(description="The role's own permissions.")
    effective_permissions: list[str] = Field(description="Its own plus those of the roles below it.")


class RoleList(Out):
    roles: list[Role]


class RoleUpdated(Out):
    role: Role


class Health(Out):
    status: Literal["ok"]
    version: str


class Readiness(Out):
    status: Literal["ok", "unavailable", "draining"]
    checks: dict[str, Literal["ok", "unreachable"]]
    details: dict[str, str] = Field(default_factory=dict, description="What prompts are checked by, and what"
                                    " happens to them when the moderation endpoint is down.")


class OpenApiDocument(BaseModel):
    model_config = ConfigDict(extra="allow", title="OpenAPI document")
    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
