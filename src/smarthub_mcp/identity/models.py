"""SQLModel mirrors of the identity tables."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class Role(SQLModel, table=True):
    __tablename__ = "roles"
    name: str = Field(primary_key=True)
    parent: str | None = None
    seniority: int
    description: str


class RolePermission(SQLModel, table=True):
    __tablename__ = "role_permissions"
    role: str = Field(primary_key=True)
    permission: str = Field(primary_key=True)


class User(SQLModel, table=True):
    __tablename__ = "users"
    id: str = Field(primary_key=True)
    email: str
    display_name: str
    password_hash: str | None = None
    role: str
    status: str
    email_verified: bool
    token_generation: int
    created_at: int
    updated_at: int


class RefreshToken(SQLModel, table=True):
    __tablename__ = "refresh_tokens"
    id: str = Field(primary_key=True)
    user_id: str
    family_id: str
    token_hash: str
    status: str
    expires_at: int
    created_at: int
    used_at: int | None = None


class RevokedToken(SQLModel, table=True):
    __tablename__ = "revoked_tokens"
    jti: str = Field(primary_key=True)
    user_id: str | None = None
    expires_at: int
    revoked_at: int


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"
    id: str = Field(primary_key=True)
    user_id: str
    name: str
    prefix: str
    key_hash: str
    scopes: str | None = None
    expires_at: int | None = None
    last_used_at: int | None = None
    created_at: int
    revoked_at: int | None = None


class EmailToken(SQLModel, table=True):
    __tablename__ = "email_tokens"
    id: str = Field(primary_key=True)
    user_id: str
    purpose: str
    token_hash: str
    expires_at: int
    used_at: int | None = None
    created_at: int


class EmailOutbox(SQLModel, table=True):
    __tablename__ = "email_outbox"
    id: str = Field(primary_key=True)
    recipient: str
    subject: str
    body: str
    status: str
    attempts: int
    last_error: str | None = None
    created_at: int
    sent_at: int | None = None
    next_attempt_at: int | None = None  # when a 'failed' row is due its retry (migration 0007)


class LoginFailure(SQLModel, table=True):
    __tablename__ = "login_failures"
    bucket: str = Field(primary_key=True)
    failures: int
    last_failed_at: int
    locked_until: int
