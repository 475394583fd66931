"""Builders shared by the template tests."""

from __future__ import annotations

from smarthub_mcp.db import Database
from smarthub_mcp.identity.principal import Principal
from tests.factories import make_user

USER_PERMISSIONS = frozenset({"tools:chat", "tools:templates"})
PUBLISHER_PERMISSIONS = USER_PERMISSIONS | {"templates:publish"}


async def principal(db: Database, *, publisher: bool = False) -> Principal:
    user_id = await make_user(db, role="manager" if publisher else "user")
    return Principal(
        user_id=user_id,
        email=f"{user_id}@example.com",
        role="manager" if publisher else "user",
        permissions=PUBLISHER_PERMISSIONS if publisher else USER_PERMISSIONS,
        auth_method="jwt",
    )


def spec(**overrides):
    from smarthub_mcp.templates.schemas import TemplateCreate

    data = {
        "name": "Greeter",
        "description": "Says hello",
        "category": "fun",
        "tags": ["hello", "Demo"],
        "body": "Hello {{ who }}!",
        "variables": [{"name": "who", "max_length": 50}],
    }
    data.update(overrides)
    return TemplateCreate.model_validate(data)
