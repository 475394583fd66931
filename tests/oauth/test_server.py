"""The authorization server over HTTP, on SQLite and PostgreSQL: metadata, the code flow with PKCE,
rotating refresh tokens, revocation, tokens bound to /mcp, and each refusal the issue names."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx

from smarthub_mcp.app import build_app
from smarthub_mcp.compose import build_services
from tests.conftest import running_app
from tests.factories import bearer, make_api_key, make_user_with_token
from tests.oauth.helpers import (
    PASSWORD,
    REDIRECT,
    authorize,
    csrf_of,
    exchange,
    local,
    make_person,
    pkce,
    query_of,
    register,
)

MCP_HEADERS = {"accept": "application/json, text/event-stream"}
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
ISSUER = "http://127.0.0.1:8000/"


async def mcp_status(client, token: str) -> int:
    return (await client.post("/mcp", json=PING, headers={**MCP_HEADERS, **bearer(token)})).status_code


async def test_metadata_names_our_authorization_server_and_what_claude_needs(client):
    metadata = (await client.get("/.well-known/oauth-authorization-server")).json()
    assert metadata["issuer"] == ISSUER
    assert metadata["client_id_metadata_document_supported"] is True
    assert "none" in metadata["token_endpoint_auth_methods_supported"]
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["registration_endpoint"] == "http://127.0.0.1:8000/register"
    assert metadata["revocation_endpoint"] == "http://127.0.0.1:8000/revoke"
    resource = (await client.get("/.well-known/oauth-protected-resource/mcp")).json()
    assert resource["resource"] == "http://127.0.0.1:8000/mcp"
    assert resource["authorization_servers"] == [ISSUER]
    assert "chat" in resource["scopes_supported"]


async def test_code_flow_refresh_and_revocation(client, services):
    _, email = await make_person(services)
    app = await register(client)
    done = await authorize(client, app["client_id"], email, resource="http://127.0.0.1:8000/mcp")
    assert done.params["iss"] == ISSUER
    tokens = (await exchange(client, app["client_id"], done)).json()
    assert tokens["token_type"] == "Bearer" and tokens["refresh_token"]
    assert await mcp_status(client, tokens["access_token"]) == 200

    refreshed = await client.post("/token", data={"grant_type": "refresh_token", "client_id": app["client_id"],
                                                  "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    fresh = refreshed.json()
    assert fresh["refresh_token"] != tokens["refresh_token"]
    assert await mcp_status(client, fresh["access_token"]) == 200

    revoked = await client.post("/revoke", data={"client_id": app["client_id"], "token": fresh["refresh_token"]})
    assert revoked.status_code == 200
    assert await mcp_status(client, fresh["access_token"]) == 401
    again = await client.post("/token", data={"grant_type": "refresh_token", "client_id": app["client_id"],
                                              "refresh_token": fresh["refresh_token"]})
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


async def test_our_jwts_and_api_keys_keep_working_on_mcp(client, services):
    user_id, token = await make_user_with_token(services)
    assert await mcp_status(client, token) == 200
    assert await mcp_status(client, await make_api_key(services, user_id)) == 200
    assert await mcp_status(client, "not-a-token") == 401


async def test_a_wrong_pkce_verifier_is_refused(client, services):
    _, email = await make_person(services)
    app = await register(client)
    done = await authorize(client, app["client_id"], email)
    wrong, _ = pkce()
    answer = await exchange(client, app["client_id"], done, code_verifier=wrong)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


async def test_a_reused_code_is_refused_and_revokes_what_it_gave(client, services):
    _, email = await make_person(services)
    app = await register(client)
    done = await authorize(client, app["client_id"], email)
    first = await exchange(client, app["client_id"], done)
    assert first.status_code == 200
    second = await exchange(client, app["client_id"], done)
    assert second.status_code == 400 and second.json()["error"] == "invalid_grant"
    assert await mcp_status(client, first.json()["access_token"]) == 401


async def test_a_redirect_uri_that_does_not_match_is_refused(client, services):
    _, email = await make_person(services)
    app = await register(client)
    done = await authorize(client, app["client_id"], email)
    answer = await exchange(client, app["client_id"], done, redirect_uri="http://127.0.0.1:9/other")
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


async def test_an_unregistered_redirect_uri_is_shown_not_followed(client, services):
    app = await register(client)
    _, challenge = pkce()
    params = {"response_type": "code", "client_id": app["client_id"], "redirect_uri": "https://evil.example/steal",
              "code_challenge": challenge, "code_challenge_method": "S256", "state": "s"}
    answer = await client.get("/authorize?" + urlencode(params))
    assert answer.status_code == 400 and "location" not in answer.headers
    assert "text/html" in answer.headers["content-type"] and "oauth_invalid_request" in answer.text
    unknown = await client.get("/authorize?" + urlencode({**params, "client_id": "nobody"}))
    assert unknown.status_code == 400 and "location" not in unknown.headers


async def test_errors_after_the_redirect_is_checked_go_back_with_iss_and_state(client):
    app = await register(client)
    params = {"response_type": "code", "client_id": app["client_id"], "redirect_uri": REDIRECT, "state": "abc"}
    answer = await client.get("/authorize?" + urlencode(params))  # no PKCE from a public client
    assert answer.status_code == 303
    back = query_of(answer.headers["location"])
    assert back == {"error": "invalid_request", "error_description": back["error_description"], "state": "abc",
                    "iss": ISSUER}
    _, challenge = pkce()
    plain = await client.get("/authorize?" + urlencode({**params, "code_challenge": challenge,
                                                         "code_challenge_method": "plain"}))
    assert query_of(plain.headers["location"])["error"] == "invalid_request"
    elsewhere = await client.get("/authorize?" + urlencode({**params, "code_challenge": challenge,
                                                             "resource": "https://other.example/mcp"}))
    assert query_of(elsewhere.headers["location"])["error"] == "invalid_target"


async def test_a_denied_consent_goes_back_as_access_denied(client, services):
    _, email = await make_person(services)
    app = await register(client)
    done = await authorize(client, app["client_id"], email, decision="deny")
    assert done.params["error"] == "access_denied" and done.params["iss"] == ISSUER and not done.code


async def test_a_token_for_another_resource_is_refused(client, services):
    _, email = await make_person(services)
    app = await register(client)
    done = await authorize(client, app["client_id"], email, resource="http://127.0.0.1:8000/api/v1/tools")
    tokens = (await exchange(client, app["client_id"], done)).json()
    assert await mcp_status(client, tokens["access_token"]) == 401
    # ... and a resource at the token endpoint other than the authorized one is refused too.
    done = await authorize(client, app["client_id"], email, resource="http://127.0.0.1:8000/mcp")
    other = await exchange(client, app["client_id"], done, resource="http://127.0.0.1:8000/api/v1/tools")
    assert other.status_code == 400 and other.json()["error"] == "invalid_target"


async def test_refresh_reuse_revokes_the_grant(client, services):
    _, email = await make_person(services)
    app = await register(client)
    tokens = (await exchange(client, app["client_id"], await authorize(client, app["client_id"], email))).json()
    form = {"grant_type": "refresh_token", "client_id": app["client_id"], "refresh_token": tokens["refresh_token"]}
    fresh = (await client.post("/token", data=form)).json()
    replay = await client.post("/token", data=form)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert await mcp_status(client, fresh["access_token"]) == 401
    follow = await client.post("/token", data={**form, "refresh_token": fresh["refresh_token"]})
    assert follow.status_code == 400


async def test_consent_post_without_its_csrf_token_is_refused(client, services):
    _, email = await make_person(services)
    app = await register(client)
    await authorize(client, app["client_id"], email)  # signs in: the session cookie is set
    _, challenge = pkce()
    params = {"response_type": "code", "client_id": app["client_id"], "redirect_uri": REDIRECT,
              "code_challenge": challenge, "state": "x"}
    answer = await client.get("/authorize?" + urlencode(params))
    request_id = query_of(answer.headers["location"])["request"]
    for csrf in ("", "0" * 64):
        forged = await client.post("/oauth/consent", data={"request": request_id, "csrf": csrf, "decision": "approve"})
        assert forged.status_code == 403 and "csrf_failed" in forged.text and "location" not in forged.headers


async def test_scopes_limit_the_token_to_what_was_granted(client, services):
    _, email = await make_person(services)
    app = await register(client)
    done = await authorize(client, app["client_id"], email, scope="account")
    tokens = (await exchange(client, app["client_id"], done)).json()
    assert tokens["scope"] == "account"
    from smarthub_mcp.oauth.access import principal_for_oauth_token

    principal, _ = await principal_for_oauth_token(services, tokens["access_token"], "http://127.0.0.1:8000/mcp")
    assert principal.can("credits:read") and not principal.can("tools:chat")
    asked = await client.get("/authorize?" + urlencode({"response_type": "code", "client_id": app["client_id"],
                                                       "code_challenge": pkce()[1], "scope": "admin", "state": "s"}))
    assert query_of(asked.headers["location"])["error"] == "invalid_scope"


async def test_a_password_change_disconnects_every_app(client, services):
    _, email = await make_person(services)
    app = await register(client)
    tokens = (await exchange(client, app["client_id"], await authorize(client, app["client_id"], email))).json()
    login = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    changed = await client.post("/api/v1/auth/change-password", headers=bearer(login.json()["access_token"]),
                                json={"current_password": PASSWORD, "new_password": PASSWORD + " 2"})
    assert changed.status_code == 200, changed.text
    assert await mcp_status(client, tokens["access_token"]) == 401
    refreshed = await client.post("/token", data={"grant_type": "refresh_token", "client_id": app["client_id"],
                                                  "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    session = changed.json()["access_token"]
    assert (await client.get("/api/v1/oauth/grants", headers=bearer(session))).json() == {"grants": []}


async def test_a_self_registered_confidential_client_still_needs_pkce(client):
    app = await register(client, token_endpoint_auth_method="client_secret_post")
    assert app["client_secret"]
    answer = await client.get("/authorize?" + urlencode({"response_type": "code", "client_id": app["client_id"],
                                                         "redirect_uri": REDIRECT, "state": "s"}))
    assert query_of(answer.headers["location"])["error"] == "invalid_request"


async def test_expired_codes_and_refresh_tokens_are_pruned_when_new_ones_are_made(client, services):
    from sqlalchemy import text

    _, email = await make_person(services)
    app = await register(client)
    await exchange(client, app["client_id"], await authorize(client, app["client_id"], email))
    async with services.db.write() as conn:
        await conn.execute(text("UPDATE oauth_refresh_tokens SET expires_at = 1"))
        await conn.execute(text("UPDATE oauth_codes SET expires_at = 1"))
    await authorize(client, app["client_id"], email)
    left = await services.db.fetch_one(
        "SELECT (SELECT COUNT(*) FROM oauth_refresh_tokens) AS refresh, (SELECT COUNT(*) FROM oauth_codes) AS codes")
    assert (left.refresh, left.codes) == (0, 1)


async def test_a_newcomer_creates_an_account_on_the_sign_in_page_and_connects(client, services):
    app = await register(client)
    _, challenge = pkce()
    params = {"response_type": "code", "client_id": app["client_id"], "redirect_uri": REDIRECT, "state": "n",
              "code_challenge": challenge}
    consent = local((await client.get("/authorize?" + urlencode(params))).headers["location"])
    shown = await client.get(consent)
    assert "Create an account" in shown.text
    form = {"request": query_of(consent)["request"], "csrf": csrf_of(shown.text), "email": "new@example.com"}
    weak = await client.post("/oauth/signup", data={**form, "password": "short"})
    assert weak.status_code == 400 and "text/html" in weak.headers["content-type"]
    made = await client.post("/oauth/signup", data={**form, "password": PASSWORD})
    assert made.status_code == 303 and "smarthub_session" in made.headers["set-cookie"]
    assert "new@example.com" in (await client.get(consent)).text  # on to the consent page, signed in
    taken = await client.post("/oauth/signup", data={**form, "password": PASSWORD})
    assert taken.status_code == 409
    user = await services.db.fetch_one("SELECT id FROM users WHERE email = 'new@example.com'")
    assert (await services.ledger.balance(user.id)).balance > 0  # the sign-up credits


async def test_registrations_are_capped_per_network(make_config, db):
    services = build_services(make_config(SMARTHUB_OAUTH__REGISTRATIONS_PER_IP_PER_HOUR="2"))
    app = build_app(services=services)
    async with running_app(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            await register(http)
            await register(http)
            flood = await http.post("/register", json={"redirect_uris": [REDIRECT],
                                                       "token_endpoint_auth_method": "none"})
    assert flood.status_code == 429 and flood.json()["error"] == "slow_down"
    assert int(flood.headers["retry-after"]) > 0
