"""Custom GPT actions: a confidential client (made by an admin through the CLI or the API, or
listed in config.toml) signs users in without PKCE, proves itself with its secret (form body or
Basic), and its token makes metered calls through the tool facade. Users see and revoke their
connected apps; admins list and disable clients."""

from __future__ import annotations

import base64
from urllib.parse import urlencode

from tests.clirunner import acli
from tests.conftest import base_env
from tests.factories import bearer, make_api_key, make_user_with_token
from tests.identity.helpers import app_client
from tests.oauth.helpers import REDIRECT, authorize, exchange, make_person, pkce, query_of

GPT_CALLBACK = "https://chat.openai.com/aip/g-123/oauth/callback"


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


async def chat_through_facade(client, token: str) -> int:
    answer = await client.post("/api/v1/tools/chat", json={"prompt": "hi", "max_tokens": 8}, headers=bearer(token))
    return answer.status_code


async def test_a_gpt_action_client_from_the_cli_signs_in_without_pkce(client, services, database_url, tmp_path):
    env = base_env(database_url)
    made = await acli("oauth", "clients", "create", "--name", "My GPT", "--redirect-uri", REDIRECT,
                      "--redirect-uri", GPT_CALLBACK, "--scope", "chat account", env=env, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    fields = dict(line.split("\t") for line in made.stdout.splitlines())
    client_id, secret = fields["client_id"], fields["client_secret"]
    user_id, email = await make_person(services)
    before = (await services.ledger.balance(user_id)).balance

    done = await authorize(client, client_id, email, use_pkce=False, scope="chat account")
    form = {"grant_type": "authorization_code", "code": done.code, "redirect_uri": REDIRECT}
    assert (await client.post("/token", data={**form, "client_id": client_id})).status_code == 401  # no secret
    assert (await client.post("/token", data=form, headers=basic(client_id, "wrong"))).status_code == 401
    tokens = await client.post("/token", data=form, headers=basic(client_id, secret))
    assert tokens.status_code == 200, tokens.text
    access = tokens.json()["access_token"]
    assert await chat_through_facade(client, access) == 200
    assert (await services.ledger.balance(user_id)).balance < before  # metered, to the signed-in user

    # The same client with its secret in the form body, and a downgrade attempt refused.
    done = await authorize(client, client_id, email, use_pkce=False)
    posted = await client.post("/token", data={**form, "code": done.code, "client_id": client_id,
                                               "client_secret": secret, "code_verifier": pkce()[0]})
    assert posted.status_code == 400 and posted.json()["error"] == "invalid_grant"
    done = await authorize(client, client_id, email, use_pkce=False)
    posted = await client.post("/token", data={**form, "code": done.code, "client_id": client_id,
                                               "client_secret": secret})
    assert posted.status_code == 200

    listed = await acli("oauth", "clients", "list", env=env, cwd=tmp_path)
    assert client_id in listed.stdout and "My GPT" in listed.stdout
    disabled = await acli("oauth", "clients", "disable", client_id, env=env, cwd=tmp_path)
    assert disabled.returncode == 0 and "2 grant(s) revoked" in disabled.stdout, disabled
    assert await chat_through_facade(client, access) == 401


async def test_an_oauth_token_works_only_where_its_audience_points(client, services):
    _, email = await make_person(services)
    app = (await client.post("/register", json={"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}))
    client_id = app.json()["client_id"]
    done = await authorize(client, client_id, email, resource="http://127.0.0.1:8000/mcp")
    for_mcp = (await exchange(client, client_id, done)).json()["access_token"]
    assert await chat_through_facade(client, for_mcp) == 401
    done = await authorize(client, client_id, email)  # no resource: the facade and /mcp
    both = (await exchange(client, client_id, done)).json()["access_token"]
    assert await chat_through_facade(client, both) == 200
    other_api = await client.get("/api/v1/credits/balance", headers=bearer(both))
    assert other_api.status_code == 401  # the rest of the API takes session tokens and keys only


async def test_admins_create_list_and_disable_clients_through_the_api(client, services):
    _, admin_token = await make_user_with_token(services, role="admin")
    _, user_token = await make_user_with_token(services)
    body = {"client_name": "Team GPT", "redirect_uris": [REDIRECT, GPT_CALLBACK], "scope": "chat"}
    assert (await client.post("/api/v1/admin/oauth/clients", json=body, headers=bearer(user_token))).status_code == 403
    bad = await client.post("/api/v1/admin/oauth/clients", json={**body, "redirect_uris": ["http://evil.example/cb"]},
                            headers=bearer(admin_token))
    assert bad.status_code == 400
    made = await client.post("/api/v1/admin/oauth/clients", json=body, headers=bearer(admin_token))
    assert made.status_code == 201, made.text
    created = made.json()
    assert created["confidential"] and created["scopes"] == ["chat"] and created["client_secret"]
    _, email = await make_person(services)
    done = await authorize(client, created["client_id"], email, use_pkce=False)
    tokens = await client.post("/token", data={"grant_type": "authorization_code", "code": done.code,
                                               "redirect_uri": REDIRECT},
                               headers=basic(created["client_id"], created["client_secret"]))
    access = tokens.json()["access_token"]
    listed = (await client.get("/api/v1/admin/oauth/clients", headers=bearer(admin_token))).json()["clients"]
    assert [c["client_name"] for c in listed if c["client_id"] == created["client_id"]] == ["Team GPT"]
    off = await client.patch("/api/v1/admin/oauth/clients", json={"client_id": created["client_id"],
                                                                   "status": "disabled"}, headers=bearer(admin_token))
    assert off.json() == {"client_id": created["client_id"], "status": "disabled", "grants_revoked": 1}
    assert await chat_through_facade(client, access) == 401
    _, challenge = pkce()
    refused = await client.get("/authorize?" + urlencode({"response_type": "code", "client_id": created["client_id"],
                                                          "redirect_uri": REDIRECT, "code_challenge": challenge}))
    assert refused.status_code == 400 and "disabled" in refused.text


async def test_users_list_and_revoke_their_connected_apps(client, services):
    user_id, email = await make_person(services)
    session = services.identity.codec.issue(user_id=user_id, role="user").token
    app = (await client.post("/register", json={"redirect_uris": [REDIRECT], "client_name": "Claude",
                                                 "token_endpoint_auth_method": "none"})).json()
    tokens = (await exchange(client, app["client_id"], await authorize(client, app["client_id"], email))).json()
    grants = (await client.get("/api/v1/oauth/grants", headers=bearer(session))).json()["grants"]
    assert [(g["client_name"], g["client_host"]) for g in grants] == [("Claude", "127.0.0.1")]
    other_id, other_session = await make_user_with_token(services)
    assert (await client.get("/api/v1/oauth/grants", headers=bearer(other_session))).json() == {"grants": []}
    stranger = await client.delete(f"/api/v1/oauth/grants/{grants[0]['id']}", headers=bearer(other_session))
    assert stranger.status_code == 404
    scoped = await make_api_key(services, user_id, scopes=["tools:chat"])
    assert (await client.delete(f"/api/v1/oauth/grants/{grants[0]['id']}", headers=bearer(scoped))).status_code == 403
    gone = await client.delete(f"/api/v1/oauth/grants/{grants[0]['id']}", headers=bearer(session))
    assert gone.json() == {"id": grants[0]["id"], "status": "revoked"}
    assert await chat_through_facade(client, tokens["access_token"]) == 401
    assert (await client.get("/api/v1/oauth/grants", headers=bearer(session))).json() == {"grants": []}
    assert other_id


CONFIG_CLIENT = """
[[oauth.clients]]
client_id = "ops-gpt"
client_name = "Ops GPT"
redirect_uris = ["http://127.0.0.1:9/callback"]
secret_env = "OPS_GPT_SECRET"
scope = "chat account"
"""


async def test_a_client_from_config_signs_in_with_its_secret_from_the_environment(make_config, db):
    config = make_config(toml=CONFIG_CLIENT, OPS_GPT_SECRET="s3cret-from-the-environment")
    async with app_client(config) as client:
        _, email = await make_person(client.services)
        done = await authorize(client, "ops-gpt", email, use_pkce=False)
        form = {"grant_type": "authorization_code", "code": done.code, "redirect_uri": REDIRECT}
        tokens = await client.post("/token", data=form, headers=basic("ops-gpt", "s3cret-from-the-environment"))
        assert tokens.status_code == 200 and tokens.json()["scope"] == "chat account"
        images = await client.get("/authorize?" + urlencode({"response_type": "code", "client_id": "ops-gpt",
                                                            "redirect_uri": REDIRECT, "scope": "images"}))
        assert query_of(images.headers["location"])["error"] == "invalid_scope"


async def test_the_tool_facades_openapi_declares_the_oauth_scheme(client):
    document = (await client.get("/api/v1/tools/openapi.json")).json()
    scheme = document["components"]["securitySchemes"]["oauth2"]
    flow = scheme["flows"]["authorizationCode"]
    assert flow["authorizationUrl"] == "http://127.0.0.1:8000/authorize"
    assert flow["tokenUrl"] == "http://127.0.0.1:8000/token" and "chat" in flow["scopes"]
    assert {"bearerAuth": []} in document["security"] and any("oauth2" in s for s in document["security"])
