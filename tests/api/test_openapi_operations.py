"""Every operation of the OpenAPI document, called once against the running app (SQLite and
PostgreSQL) as its users would: a user with a real API key, an admin for the admin's routes, Stripe
(a loopback fake) for purchases. Each answer must carry a documented status and match the schema
documented for it; and every operation in the document must be called here, so a new route needs
an example before the suite passes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest

from tests.api.openapi_checks import DocumentedAnswers
from tests.billing.conftest import PACKAGES_TOML, STRIPE_KEY, WEBHOOK_SECRET, signed
from tests.factories import bearer, make_api_key, make_user_with_token
from tests.fakes.stripe_api import FakeStripe, event
from tests.tools.test_http_facade import EXAMPLES as TOOL_ARGUMENTS
from tests.tools.test_http_facade import EXPECTED_ERRORS as TOOL_ERRORS

API = "/api/v1"
PASSWORD = "a long passphrase 1"


@pytest.fixture
async def stripe_fake() -> AsyncIterator[FakeStripe]:
    async with FakeStripe(api_key=STRIPE_KEY) as fake:
        yield fake


@pytest.fixture
def config(make_config, stripe_fake):
    return make_config(toml=PACKAGES_TOML, STRIPE_API_KEY=STRIPE_KEY, STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
                       SMARTHUB_PAYMENTS__STRIPE_API_BASE=stripe_fake.url)


class Caller:
    def __init__(self, client, answers: DocumentedAnswers) -> None:
        self.client, self.answers = client, answers

    async def __call__(self, method: str, template: str, token: str | None = None, *, status: int,
                       params: dict[str, str] | None = None, json: Any = None, query: Any = None,
                       content: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
        path = template.format(**(params or {}))
        sent = {**(bearer(token) if token else {}), **(headers or {})}
        body = {"content": content} if content is not None else {"json": json} if json is not None else {}
        response = await self.client.request(method, path, params=query, headers=sent, **body)
        assert response.status_code == status, (method, template, response.status_code, response.text[:500])
        self.answers.check(method, template, response)
        return response.json() if response.headers.get("content-type") == "application/json" else response


async def test_every_documented_operation_answers_as_documented(services, client, stripe_fake):
    document = (await client.get(f"{API}/openapi.json")).json()
    answers = DocumentedAnswers(document)
    call = Caller(client, answers)
    user_id, _ = await make_user_with_token(services)
    user = await make_api_key(services, user_id)
    admin_id, _ = await make_user_with_token(services, role="admin")
    admin = await make_api_key(services, admin_id)

    # Accounts and sessions.
    email = "newcomer@example.com"
    registered = await call("POST", f"{API}/auth/register", json={"email": email, "password": PASSWORD}, status=201)
    session = await call("POST", f"{API}/auth/login", json={"email": email, "password": PASSWORD}, status=200)
    session = await call("POST", f"{API}/auth/refresh", json={"refresh_token": session["refresh_token"]}, status=200)
    await call("GET", f"{API}/auth/me", user, status=200)
    await call("POST", f"{API}/auth/verify-email", json={"token": "not-a-token"}, status=400)
    await call("POST", f"{API}/auth/resend-verification", session["access_token"], status=200)
    await call("POST", f"{API}/auth/forgot-password", json={"email": email}, status=202)
    await call("POST", f"{API}/auth/reset-password", json={"token": "nope", "new_password": PASSWORD}, status=400)
    session = await call("POST", f"{API}/auth/change-password", session["access_token"], status=200,
                         json={"current_password": PASSWORD, "new_password": PASSWORD + "!"})
    await call("POST", f"{API}/auth/logout", session["access_token"], status=200,
               json={"refresh_token": session["refresh_token"]})

    # Keys, users, roles.
    await call("GET", f"{API}/keys", user, status=200)
    key = await call("POST", f"{API}/keys", user, json={"name": "laptop", "scopes": ["tools:chat"]}, status=201)
    await call("DELETE", f"{API}/keys/{{key_id}}", user, params={"key_id": key["id"]}, status=200)
    await call("GET", f"{API}/admin/users", admin, query={"limit": "5", "role": "user"}, status=200)
    await call("PATCH", f"{API}/admin/users/{{user_id}}", admin, params={"user_id": registered["user"]["id"]},
               json={"status": "active"}, status=200)
    roles = await call("GET", f"{API}/admin/roles", admin, status=200)
    guest = next(r for r in roles["roles"] if r["name"] == "guest")
    await call("PUT", f"{API}/admin/roles/{{role}}", admin, params={"role": "guest"},
               json={"permissions": guest["permissions"]}, status=200)

    # Credits and payments.
    await call("GET", f"{API}/credits/balance", user, status=200)
    await call("GET", f"{API}/credits/history", user, query={"kind": "grant", "limit": "10"}, status=200)
    await call("GET", f"{API}/credits/stats", user, query={"from": "2020-01-01"}, status=200)
    await call("GET", f"{API}/credits/packages", status=200)
    checkout = await call("POST", f"{API}/credits/purchase", user, json={"package_id": "starter"}, status=201)
    payload = event("checkout.session.completed", stripe_fake.complete(checkout["session_id"]))
    received = await call("POST", f"{API}/payments/stripe/webhook", content=payload.encode(),
                          headers=signed(payload), status=200)
    assert received["outcome"] == "credited", received
    adjust = {"email": "NEWCOMER@example.com", "amount": "2.5", "reason": "welcome", "idempotency_key": "k1"}
    await call("POST", f"{API}/admin/credits/adjust", admin, json=adjust, status=200)
    bulk = {"items": [{"user_id": user_id, "amount": -0.25, "idempotency_key": "k2"}], "reason": "fix"}
    await call("POST", f"{API}/admin/credits/bulk", admin, json=bulk, status=200)
    await call("GET", f"{API}/admin/credits/audit", admin, status=200)
    await call("GET", f"{API}/admin/credits/report", admin, status=200)
    csv = await call("GET", f"{API}/admin/credits/report", admin, query={"format": "csv"}, status=200)
    assert csv.text.startswith("type,email,model")
    await call("GET", f"{API}/admin/payments", admin, query={"status": "paid"}, status=200)
    await call("GET", f"{API}/admin/payments/summary", admin, status=200)
    await call("GET", f"{API}/admin/payment-flags", admin, status=200)

    # Promo codes.
    code = await call("POST", f"{API}/promo/codes", admin, json={"credits": "5", "code": "HELLO5"}, status=201)
    ref = {"code_id": code["id"]}
    await call("GET", f"{API}/promo/codes", admin, query={"active": "true"}, status=200)
    await call("GET", f"{API}/promo/codes/{{code_id}}", admin, params=ref, status=200)
    await call("PUT", f"{API}/promo/codes/{{code_id}}", admin, params=ref, json={"description": "hi"}, status=200)
    await call("POST", f"{API}/promo/redeem", user, json={"code": "hello-5"}, status=200)
    await call("DELETE", f"{API}/promo/codes/{{code_id}}", admin, params=ref, status=200)

    # Templates.
    spec = {"name": "Greeter", "body": "Say hello to {{ who }}", "variables": [{"name": "who"}], "tags": ["demo"]}
    await call("GET", f"{API}/templates", user, status=200)
    made = await call("POST", f"{API}/templates", user, json=spec, status=201)
    tpl = {"id": made["id"]}
    await call("GET", f"{API}/templates/public", user, query={"sort": "recent"}, status=200)
    await call("GET", f"{API}/templates/popular", user, status=200)
    await call("GET", f"{API}/templates/{{id}}", user, params=tpl, status=200)
    await call("PUT", f"{API}/templates/{{id}}", user, params=tpl, json={"body": "Hi {{ who }}"}, status=200)
    await call("POST", f"{API}/templates/{{id}}/restore/{{version}}", user, params={**tpl, "version": "1"},
               status=200)
    await call("POST", f"{API}/templates/{{id}}/fork", user, params={"id": "tpl_starter_summarize"}, status=201)
    await call("POST", f"{API}/templates/{{id}}/execute", user, params=tpl, json={"variables": {"who": "Ann"}},
               status=200)
    await call("POST", f"{API}/templates/{{id}}/batch", user, params=tpl,
               json={"items": [{"who": "Ann"}, {}]}, status=200)
    await call("GET", f"{API}/templates/{{id}}/stats", user, params=tpl, status=200)
    await call("DELETE", f"{API}/templates/{{id}}", user, params=tpl, status=204)

    # Media (none made yet: the library is empty, and an unknown id is the documented 404).
    await call("GET", f"{API}/media", user, query={"limit": "5"}, status=200)
    await call("GET", f"{API}/media/{{id}}", user, params={"id": "med_nope"}, status=404)
    await call("DELETE", f"{API}/media/{{id}}", user, params={"id": "med_nope"}, status=404)

    # Images and jobs (one image made; one queued job shown and cancelled; a batch of one).
    made = await call("POST", f"{API}/images", user, json={"prompt": "a fox", "model": "demo-image-slow"},
                      status=200)
    job = {"id": made["job_id"]}
    await call("GET", f"{API}/jobs", user, query={"limit": "5", "status": "succeeded"}, status=200)
    await call("GET", f"{API}/jobs/{{id}}", user, params=job, status=200)
    await call("POST", f"{API}/jobs/{{id}}/cancel", user, params={"id": "job_nope"}, status=404)
    await call("GET", f"{API}/account/webhook", user, status=200)
    await call("PUT", f"{API}/account/webhook", user, json={"url": "http://10.0.0.1/hook"}, status=400)
    await call("DELETE", f"{API}/account/webhook", user, status=200)
    await call("GET", f"{API}/admin/jobs", admin, query={"limit": "5", "status": "succeeded", "all": "true"},
               status=200)
    await call("POST", f"{API}/admin/jobs/{{id}}/settle", admin, params=job,
               json={"action": "release", "reason": "checked with the provider"}, status=409)
    await call("POST", f"{API}/videos", user, json={"prompt": "waves", "model": "demo-video"}, status=200)

    # Moderation: an image the (demo) provider flags waits for review.
    await call("POST", f"{API}/images", user, json={"prompt": "[flag] a fox", "model": "demo-image", "count": 2},
               status=200)
    held = await call("GET", f"{API}/admin/moderation", admin, query={"limit": "5"}, status=200)
    await call("POST", f"{API}/admin/moderation/{{id}}", admin, params={"id": held["items"][0]["review_id"]},
               json={"decision": "approve", "reason": "harmless"}, status=200)
    await call("GET", f"{API}/admin/moderation/report", admin, query={"from": str(date.today() - timedelta(days=7))},
               status=200)
    await call("GET", f"{API}/admin/moderation/users", admin, query={"flagged": "true"}, status=200)
    await call("PUT", f"{API}/admin/moderation/users/{{user_id}}", admin, params={"user_id": user_id},
               json={"exempt": False, "suspended": False, "note": "checked"}, status=200)
    await call("POST", f"{API}/images/batch", user, json={"items": [{"prompt": "a fox", "model": "demo-image"}]},
               status=200)

    # Connected apps and OAuth clients (the grant list is empty until an app is connected: tests/oauth).
    await call("GET", f"{API}/oauth/grants", user, status=200)
    await call("DELETE", f"{API}/oauth/grants/{{grant_id}}", user, params={"grant_id": "grt_nope"}, status=404)
    oauth_client = await call("POST", f"{API}/admin/oauth/clients", admin, status=201,
                      json={"client_name": "GPT", "redirect_uris": ["https://chatgpt.com/aip/g-1/oauth/callback"]})
    await call("GET", f"{API}/admin/oauth/clients", admin, status=200)
    await call("PATCH", f"{API}/admin/oauth/clients", admin, status=200,
               json={"client_id": oauth_client["client_id"], "status": "disabled"})

    # The tools, the documents, the probes.
    for name in sorted(p.rsplit("/", 1)[1] for p in document["paths"] if p.startswith(f"{API}/tools/")):
        if name == "openapi.json":
            continue
        expected = 404 if name in TOOL_ERRORS else 200
        answer = await call("POST", f"{API}/tools/{name}", user, json=TOOL_ARGUMENTS.get(name, {}), status=expected)
        if name in TOOL_ERRORS:
            assert answer["error"]["code"] == TOOL_ERRORS[name]
    await call("GET", f"{API}/openapi.json", status=200)
    await call("GET", f"{API}/tools/openapi.json", status=200)
    await call("GET", "/healthz", status=200)
    await call("GET", "/readyz", status=200)

    documented = {(m.upper(), p) for p, item in document["paths"].items() for m in item}
    assert documented - answers.seen == set(), "operations without an example here"


async def test_errors_match_the_documented_envelope(services, client):
    document = (await client.get(f"{API}/openapi.json")).json()
    answers = DocumentedAnswers(document)
    call = Caller(client, answers)
    user_id, _ = await make_user_with_token(services)
    user = await make_api_key(services, user_id)
    await call("GET", f"{API}/credits/balance", status=401)
    await call("GET", f"{API}/admin/users", user, status=403)
    await call("GET", f"{API}/templates/{{id}}", user, params={"id": "tpl_nope"}, status=404)
    await call("POST", f"{API}/templates", user, json={"name": ""}, status=400)
    await call("POST", f"{API}/auth/login", content=b"{not json", status=400,
               headers={"content-type": "application/json"})
    await call("POST", f"{API}/tools/chat", user, json={"prompt": "x", "model": "nope"}, status=400)


def test_an_answer_off_the_document_fails_the_check():
    import httpx

    from smarthub_mcp.api.openapi import api_document

    answers = DocumentedAnswers(api_document("http://127.0.0.1"))
    path = f"{API}/credits/balance"
    good = {"balance": "1.000000", "held": "0.000000", "available": "1.000000"}
    answers.check("GET", path, httpx.Response(200, json=good))
    for wrong in ({**good, "extra": 1}, {"balance": "1.000000"}, {**good, "held": 5}):
        with pytest.raises(AssertionError):
            answers.check("GET", path, httpx.Response(200, json=wrong))
    with pytest.raises(AssertionError):  # a status the operation does not document
        answers.check("GET", path, httpx.Response(418, json={"error": {"code": "x", "message": "y"}}))
