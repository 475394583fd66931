"""The HTTP tool facade (Custom GPT actions): same tools, auth and metering as MCP; OpenAPI from the registry."""

from __future__ import annotations

import json

import pytest
from openapi_spec_validator import validate

from smarthub_mcp.compose import build_services
from smarthub_mcp.credits import MICRO
from smarthub_mcp.tools.catalog import all_tools
from tests.factories import bearer, make_api_key, make_user_with_token


async def test_openapi_document_validates_and_lists_every_tool(client):
    response = await client.get("/api/v1/tools/openapi.json")
    assert response.status_code == 200
    document = response.json()
    validate(document)
    operations = {op["post"]["operationId"] for op in document["paths"].values()}
    assert operations == set(all_tools())
    for path in document["paths"].values():
        assert path["post"]["description"], "every operation is described for a Custom GPT"


# Arguments that make every operation in the OpenAPI document do real work.
EXAMPLES = {
    "chat": {"prompt": "hello", "max_tokens": 32},
    "get_usage": {"limit": 3},
    "redeem_promo": {"code": "NOSUCHCODE"},
    "get_template": {"template_id": "tpl_starter_summarize"},
    "run_template": {"template_id": "tpl_starter_summarize", "variables": {"text": "A long text."}},
    "save_template": {"name": "My note", "body": "Say {{ x }}", "variables": [{"name": "x"}]},
    "delete_template": {"template_id": "tpl_does_not_exist"},
    "get_media": {"media_id": "med_does_not_exist"},
    "delete_media": {"media_id": "med_does_not_exist"},
    "generate_image": {"prompt": "a red fox", "model": "demo-image", "size": "512x512"},
    "generate_video": {"prompt": "waves", "model": "demo-video"},
    "get_job": {"job_id": "job_does_not_exist"},
    "cancel_job": {"job_id": "job_does_not_exist"},
}
EXPECTED_ERRORS = {"redeem_promo": "promo_not_found", "delete_template": "template_not_found",
                   "get_media": "media_not_found", "delete_media": "media_not_found",
                   "get_job": "job_not_found", "cancel_job": "job_not_found"}


async def test_every_operation_works_over_http(services, client):
    user_id, _ = await make_user_with_token(services)
    key = await make_api_key(services, user_id)
    document = (await client.get("/api/v1/tools/openapi.json")).json()
    for path, item in document["paths"].items():
        name = item["post"]["operationId"]
        response = await client.post(path, json=EXAMPLES.get(name, {}), headers=bearer(key))
        if name in EXPECTED_ERRORS:
            assert response.json()["error"]["code"] == EXPECTED_ERRORS[name], name
        else:
            assert response.status_code == 200, (name, response.text)


async def test_facade_charges_like_mcp_and_needs_auth(services, client):
    user_id, token = await make_user_with_token(services)
    assert (await client.post("/api/v1/tools/get_balance")).status_code == 401
    response = await client.post("/api/v1/tools/chat", json={"prompt": "hi", "max_tokens": 16}, headers=bearer(token))
    assert response.status_code == 200
    charged = response.json()["credits_charged"]
    whole, frac = charged.split(".")
    assert (await services.ledger.balance(user_id)).balance == MICRO - (int(whole) * MICRO + int(frac))


def _micro(credits: str) -> int:
    whole, frac = credits.split(".")
    return int(whole) * MICRO + int(frac)


async def test_a_reused_request_id_pays_for_every_call(services, client):
    # X-Request-ID is the client's to choose; it must never make a second call a "repeat" of the first.
    user_id, token = await make_user_with_token(services)
    headers = {**bearer(token), "X-Request-ID": "same-id-every-time"}
    charged = 0
    for _ in range(3):
        response = await client.post("/api/v1/tools/chat", json={"prompt": "hi", "max_tokens": 16}, headers=headers)
        assert response.status_code == 200, response.text
        assert _micro(response.json()["credits_charged"]) > 0
        charged += _micro(response.json()["credits_charged"])
    assert (await services.ledger.balance(user_id)).balance == MICRO - charged


async def test_insufficient_credits_is_402_over_http(make_config, db):
    import httpx

    from smarthub_mcp.app import build_app
    from tests.conftest import running_app

    services = build_services(make_config(SMARTHUB_AUTH__SIGNUP_GRANT="0"))
    app = build_app(services=services)
    async with running_app(app):
        user_id, token = await make_user_with_token(services)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            response = await http.post("/api/v1/tools/chat", json={"prompt": "hi"}, headers=bearer(token))
        assert response.status_code == 402
        error = response.json()["error"]
        assert error["code"] == "insufficient_credits" and "available" in error["details"]
        assert (await services.ledger.balance(user_id)).balance == 0


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "invalid_json"),
        (b"[1, 2]", "invalid_request"),
        (json.dumps({"prompt": 12345}).encode(), "invalid_request"),
        (json.dumps({"prompt": "x", "max_tokens": "lots"}).encode(), "invalid_request"),
        (json.dumps({"prompt": "x", "unknown_field": 1}).encode(), "invalid_request"),
        (json.dumps({"prompt": "x" * 500_000}).encode(), "invalid_request"),
        (json.dumps({"prompt": "x", "model": "no-such-model"}).encode(), "unknown_model"),
        (json.dumps({"messages": []}).encode(), "invalid_request"),
        (json.dumps({"prompt": "x", "max_tokens": 10_000_000}).encode(), "invalid_request"),
    ],
)
async def test_bad_arguments_are_clean_errors_and_charge_nothing(services, client, body, code):
    user_id, token = await make_user_with_token(services)
    response = await client.post(
        "/api/v1/tools/chat", content=body, headers={**bearer(token), "content-type": "application/json"}
    )
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["code"] == code
    assert "Traceback" not in response.text
    balance = await services.ledger.balance(user_id)
    assert balance.balance == MICRO and balance.held == 0


async def test_unknown_and_hidden_tools_are_404(services, client):
    user_id, _ = await make_user_with_token(services)
    scoped = await make_api_key(services, user_id, scopes=["credits:read"])
    assert (await client.post("/api/v1/tools/nope", headers=bearer(scoped))).status_code == 404
    hidden = await client.post("/api/v1/tools/chat", json={"prompt": "x"}, headers=bearer(scoped))
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "not_found"


async def test_metrics_count_tool_calls_for_report_readers_only(services, client):
    _, user_token = await make_user_with_token(services)
    _, manager_token = await make_user_with_token(services, role="manager")
    await client.post("/api/v1/tools/chat", json={"prompt": "hi", "max_tokens": 8}, headers=bearer(user_token))
    await client.post("/api/v1/tools/chat", json={"model": "nope", "prompt": "x"}, headers=bearer(user_token))
    assert (await client.get("/metrics")).status_code == 401
    assert (await client.get("/metrics", headers=bearer(user_token))).status_code == 403
    text = (await client.get("/metrics", headers=bearer(manager_token))).text
    assert 'smarthub_tool_calls_total{outcome="ok",tool="chat"} 1.0' in text
    assert 'smarthub_tool_calls_total{outcome="unknown_model",tool="chat"} 1.0' in text
    assert "smarthub_credits_charged_micro_total" in text
