"""Bearer tokens for the credit routes' tests, from the identity package's own token issuer."""

from __future__ import annotations


def bearer(services, user_id: str, role: str = "user") -> dict[str, str]:
    token = services.identity.codec.issue(user_id=user_id, role=role).token
    return {"authorization": f"Bearer {token}"}
