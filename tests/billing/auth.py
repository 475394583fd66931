"""Bearer tokens for the credit routes' tests.

The one place that knows how a test logs in: when the identity package lands, only this helper
changes (to its own token issuer)."""

from __future__ import annotations

import time

import jwt

from tests.conftest import TEST_JWT_SECRET


def bearer(services, user_id: str, role: str = "user") -> dict[str, str]:
    auth = services.settings.auth
    now = int(time.time())
    claims = {"sub": user_id, "role": role, "iss": auth.issuer, "aud": auth.audience, "iat": now, "exp": now + 600,
              "jti": f"t-{user_id}-{now}", "email_verified": True}
    return {"authorization": f"Bearer {jwt.encode(claims, TEST_JWT_SECRET, algorithm='HS256')}"}
