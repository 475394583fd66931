"""SQLModel mirrors of the identity tables."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class User(SQLModel, table=True):
    __tablename__ = "users"
    id: str = Field(primary_key=True)
    email: str
    display_name: str
    password_hash: str | None = None
    role: str
    status: str
    email_verified: bool
    created_at: int
    updated_at: int
