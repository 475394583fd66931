"""A loopback stand-in for Google's OpenID Connect provider, speaking its wire format: discovery,
JWKS, the authorization endpoint (which signs in `account` at once, as a person with a Google
session would) and the token endpoint (client secret by Basic or form, PKCE S256, an RS256 ID token)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Route

from tests.conftest import LiveServer

CLIENT_ID = "fake-google-client.apps.googleusercontent.com"
CLIENT_SECRET = "fake-google-secret"


class FakeGoogle:
    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(4)
        self.account: dict[str, Any] = {"sub": "1000001", "email": "ann@gmail.com", "email_verified": True,
                                        "name": "Ann"}
        self.wrong_nonce = False
        self.codes: dict[str, dict[str, Any]] = {}
        self.url = ""
        self._server: LiveServer | None = None

    def env(self) -> dict[str, str]:
        return {"SMARTHUB_GOOGLE_CLIENT_ID": CLIENT_ID, "SMARTHUB_GOOGLE_CLIENT_SECRET": CLIENT_SECRET,
                "SMARTHUB_OAUTH__GOOGLE_DISCOVERY_URL": f"{self.url}/.well-known/openid-configuration"}

    async def discovery(self, request: Request) -> JSONResponse:
        return JSONResponse({
            "issuer": self.url, "authorization_endpoint": f"{self.url}/o/oauth2/v2/auth",
            "token_endpoint": f"{self.url}/token", "jwks_uri": f"{self.url}/oauth2/v3/certs",
            "response_types_supported": ["code"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"], "code_challenge_methods_supported": ["S256"],
        })

    async def certs(self, request: Request) -> JSONResponse:
        jwk = RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return JSONResponse({"keys": [{**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}]})

    async def authorize(self, request: Request) -> Any:
        q = request.query_params
        if q.get("client_id") != CLIENT_ID or q.get("response_type") != "code" or "openid" not in q.get("scope", ""):
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge") or not q.get("nonce"):
            return JSONResponse({"error": "invalid_request", "error_description": "PKCE and nonce"}, status_code=400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"nonce": q["nonce"], "challenge": q["code_challenge"], "redirect_uri": q["redirect_uri"]}
        return RedirectResponse(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q.get('state', '')})}",
                                status_code=302)

    async def token(self, request: Request) -> JSONResponse:
        form = await request.form()
        header = request.headers.get("authorization", "")
        if header.startswith("Basic "):
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        else:
            client_id, secret = str(form.get("client_id")), str(form.get("client_secret"))
        if client_id != CLIENT_ID or secret != CLIENT_SECRET:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        issued = self.codes.pop(str(form.get("code")), None)
        verifier = str(form.get("code_verifier", ""))
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        if issued is None or digest != issued["challenge"] or form.get("redirect_uri") != issued["redirect_uri"]:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        now = int(time.time())
        claims = {"iss": self.url, "aud": CLIENT_ID, "iat": now, "exp": now + 3600,
                  "nonce": "not-yours" if self.wrong_nonce else issued["nonce"], **self.account}
        id_token = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})
        return JSONResponse({"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 3599,
                             "scope": "openid email profile", "id_token": id_token})

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/.well-known/openid-configuration", self.discovery),
            Route("/oauth2/v3/certs", self.certs),
            Route("/o/oauth2/v2/auth", self.authorize),
            Route("/token", self.token, methods=["POST"]),
        ])

    async def __aenter__(self) -> FakeGoogle:
        self._server = LiveServer(self.app())
        await self._server.__aenter__()
        self.url = self._server.url
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            await self._server.__aexit__(*exc)
