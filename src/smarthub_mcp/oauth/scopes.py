"""OAuth scopes and the permissions each one grants.

A scope never grants more than the user's role: a token's principal may do a permission only when
the role has it *and* a granted scope names it (`Principal.can`). No scope reaches an admin
permission, so a connector asking for chat gets chat, never user management.
"""

from __future__ import annotations

SCOPES: dict[str, tuple[str, frozenset[str]]] = {
    "chat": ("Chat with AI models, paid from your credits", frozenset({"tools:chat"})),
    "images": ("Generate images and manage them, paid from your credits", frozenset({"tools:image"})),
    "video": ("Generate videos, paid from your credits", frozenset({"tools:video"})),
    "templates": ("Run prompt templates, paid from your credits", frozenset({"tools:templates"})),
    "account": ("See your balance, usage, models and prices; redeem promo codes", frozenset({"credits:read"})),
}
ALL_SCOPES = tuple(SCOPES)


class UnknownScope(ValueError):
    pass


def parse_scopes(raw: str | None, allowed: tuple[str, ...] = ALL_SCOPES) -> tuple[str, ...]:
    """The requested scopes in table order (all `allowed` ones when none is asked for), or UnknownScope."""
    if raw is None or not raw.strip():
        return tuple(s for s in ALL_SCOPES if s in allowed)
    asked = set(raw.split())
    unknown = sorted(asked - set(allowed))
    if unknown:
        raise UnknownScope(", ".join(unknown)[:200])
    return tuple(s for s in ALL_SCOPES if s in asked)


def permissions_for(scopes: tuple[str, ...] | list[str]) -> frozenset[str]:
    found: set[str] = set()
    for scope in scopes:
        if scope in SCOPES:
            found |= SCOPES[scope][1]
    return frozenset(found)


def describe(scope: str) -> str:
    return SCOPES[scope][0] if scope in SCOPES else scope
