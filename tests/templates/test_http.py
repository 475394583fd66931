"""`/api/v1/templates` end to end: versions, isolation, publishing, runs metered like chat, batches."""

from __future__ import annotations

from sqlalchemy import text

from smarthub_mcp.billing.money import MICRO
from tests.factories import bearer, make_user_with_token

GREETER = {
    "name": "Greeter",
    "category": "fun",
    "tags": ["hello"],
    "body": "Say hello to {{ who }} in {{ lang }}.",
    "variables": [
        {"name": "who", "max_length": 40},
        {"name": "lang", "type": "enum", "choices": ["English", "French"], "default": "English"},
    ],
}


async def _user(services, role: str = "user", credits: int = 0) -> tuple[str, dict[str, str]]:
    user_id, token = await make_user_with_token(services, role=role)
    if credits:
        await services.ledger.grant(user_id, credits * MICRO, kind="grant", idempotency_key=f"t:{user_id}")
    return user_id, bearer(token)


async def _balance(services, user_id: str) -> int:
    return (await services.ledger.balance(user_id)).balance


async def test_versions_restore_and_runs_record_their_version(client, services):
    _, a = await _user(services, credits=10)
    created = (await client.post("/api/v1/templates", json=GREETER, headers=a)).json()
    tid = created["id"]
    assert created["current_version"] == 1 and created["visibility"] == "private"

    edited = await client.put(f"/api/v1/templates/{tid}", json={"body": "Greet {{ who }} ({{ lang }})."}, headers=a)
    assert edited.status_code == 200 and edited.json()["current_version"] == 2
    run2 = (await client.post(f"/api/v1/templates/{tid}/execute", json={"variables": {"who": "Bo"}}, headers=a)).json()
    assert run2["version"] == 2 and "Greet Bo (English)." in run2["output"]
    run1 = await client.post(
        f"/api/v1/templates/{tid}/execute", json={"variables": {"who": "Bo"}, "version": 1}, headers=a
    )
    assert run1.json()["version"] == 1 and "Say hello to Bo in English." in run1.json()["output"]

    restored = (await client.post(f"/api/v1/templates/{tid}/restore/1", headers=a)).json()
    assert restored["current_version"] == 3 and restored["body"] == GREETER["body"]
    assert [v["version"] for v in restored["versions"]] == [3, 2, 1]
    stats = (await client.get(f"/api/v1/templates/{tid}/stats", headers=a)).json()
    assert stats["runs"] == 2 and stats["runs_by_version"] == {"1": 1, "2": 1} and stats["success_rate"] == 1.0
    assert stats["credits_spent_micro"] == run1.json()["charged_micro"] + run2["charged_micro"]
    assert (await client.get("/api/v1/templates?tag=hello", headers=a)).json()["items"][0]["id"] == tid
    assert (await client.get("/api/v1/templates?category=nope", headers=a)).json()["items"] == []
    assert (await client.delete(f"/api/v1/templates/{tid}", headers=a)).status_code == 204
    assert (await client.get(f"/api/v1/templates/{tid}", headers=a)).json()["error"]["code"] == "template_not_found"


async def test_others_private_templates_are_404_everywhere(client, services):
    _, a = await _user(services, credits=5)
    _, b = await _user(services, credits=5)
    tid = (await client.post("/api/v1/templates", json=GREETER, headers=a)).json()["id"]
    attempts = [
        ("GET", f"/api/v1/templates/{tid}", None),
        ("PUT", f"/api/v1/templates/{tid}", {"name": "mine"}),
        ("DELETE", f"/api/v1/templates/{tid}", None),
        ("POST", f"/api/v1/templates/{tid}/restore/1", None),
        ("POST", f"/api/v1/templates/{tid}/execute", {"variables": {"who": "x"}}),
        ("POST", f"/api/v1/templates/{tid}/batch", {"items": [{"who": "x"}]}),
        ("POST", f"/api/v1/templates/{tid}/fork", {}),
        ("GET", f"/api/v1/templates/{tid}/stats", None),
    ]
    for method, url, body in attempts:
        response = await client.request(method, url, json=body, headers=b)
        assert (response.status_code, response.json()["error"]["code"]) == (404, "template_not_found"), url
    gallery = (await client.get("/api/v1/templates/public?sort=recent&limit=100", headers=b)).json()["items"]
    assert tid not in {t["id"] for t in gallery}
    assert (await client.get("/api/v1/templates", headers=a)).json()["items"][0]["id"] == tid
    assert (await client.get("/api/v1/templates", headers=b)).json()["items"] == []
    assert (await client.get("/api/v1/templates")).status_code == 401


async def test_publishing_gallery_and_fork(client, services):
    _, user = await _user(services, credits=5)
    _, manager = await _user(services, role="manager")
    refused = await client.post("/api/v1/templates", json={**GREETER, "visibility": "public"}, headers=user)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
    published = await client.post("/api/v1/templates", json={**GREETER, "visibility": "public"}, headers=manager)
    assert published.status_code == 201
    pid = published.json()["id"]

    assert (
        await client.post(f"/api/v1/templates/{pid}/execute", json={"variables": {"who": "A"}}, headers=user)
    ).status_code == 200
    popular = (await client.get("/api/v1/templates/popular", headers=user)).json()["items"]
    assert popular[0]["id"] == pid and popular[0]["run_count"] == 1
    assert {t["slug"] for t in popular} >= {"summarize", "translate", "code-review", "email-reply"}

    changed = await client.put(f"/api/v1/templates/{pid}", json={"name": "x"}, headers=user)
    assert (changed.status_code, changed.json()["error"]["code"]) == (403, "template_not_editable")

    # The owner edits the published text; others see and run what it is now, never an old version.
    edited = await client.put(f"/api/v1/templates/{pid}", json={"body": "Hi {{ who }} ({{ lang }})."}, headers=manager)
    assert edited.json()["current_version"] == 2
    seen = (await client.get(f"/api/v1/templates/{pid}", headers=user)).json()
    assert seen["body"].startswith("Hi ") and seen["versions"] == []
    history = (await client.get(f"/api/v1/templates/{pid}", headers=manager)).json()["versions"]
    assert sorted(v["version"] for v in history) == [1, 2]
    old = await client.post(f"/api/v1/templates/{pid}/execute", json={"variables": {"who": "A"}, "version": 1},
                            headers=user)
    assert (old.status_code, old.json()["error"]["code"]) == (404, "template_version_not_found")
    current = await client.post(f"/api/v1/templates/{pid}/execute", json={"variables": {"who": "A"}, "version": 2},
                                headers=user)
    assert current.status_code == 200
    fork = await client.post(f"/api/v1/templates/{pid}/fork", json={"name": "My greeter"}, headers=user)
    assert fork.status_code == 201
    assert (fork.json()["visibility"], fork.json()["forked_from"], fork.json()["mine"]) == ("private", pid, True)


async def test_bad_variables_are_refused_before_any_credit_moves(client, services):
    alice, a = await _user(services, credits=5)
    tid = (await client.post("/api/v1/templates", json=GREETER, headers=a)).json()["id"]
    before = await services.ledger.balance(alice)
    for variables, code in [
        ({}, "template_missing_variable"),
        ({"who": "x", "evil": "{{ ''.__class__ }}"}, "template_undeclared_variable"),
        ({"who": "x" * 41}, "template_variable_too_long"),
        ({"who": "x", "lang": "Klingon"}, "template_variable_type"),
        ({"who": {"nested": 1}}, "template_variable_type"),
    ]:
        r = await client.post(f"/api/v1/templates/{tid}/execute", json={"variables": variables}, headers=a)
        assert (r.status_code, r.json()["error"]["code"]) == (400, code)
    r = await client.post(
        f"/api/v1/templates/{tid}/execute", json={"variables": {"who": "x"}, "model": "nope"}, headers=a
    )
    assert r.json()["error"]["code"] == "unknown_model"
    assert await services.ledger.balance(alice) == before
    async with services.db.read() as conn:
        holds = (await conn.execute(text("SELECT COUNT(*) FROM holds WHERE account_id = :u"), {"u": alice})).scalar()
    assert holds == 0


async def test_batch_of_50_with_5_failures_charges_45_exactly(client, services):
    alice, a = await _user(services, credits=100)
    tid = (await client.post("/api/v1/templates", json=GREETER, headers=a)).json()["id"]
    bad = {3, 17, 24, 38, 49}
    items = [{"who": f"person {i}"} if i not in bad else {"who": f"person {i}", "lang": "Latin"} for i in range(50)]
    before = await _balance(services, alice)
    response = await client.post(f"/api/v1/templates/{tid}/batch", json={"items": items}, headers=a)
    assert response.status_code == 200
    batch = response.json()
    assert (batch["succeeded"], batch["failed"]) == (45, 5)
    assert [i["index"] for i in batch["items"]] == list(range(50))
    for item in batch["items"]:
        if item["index"] in bad:
            assert not item["ok"] and item["error"]["code"] == "template_variable_type" and item["result"] is None
        else:
            assert item["ok"] and f"person {item['index']}" in item["result"]["output"]
            assert item["result"]["charged_micro"] > 0
    charged = sum(i["result"]["charged_micro"] for i in batch["items"] if i["ok"])
    assert batch["charged_micro"] == charged
    assert await _balance(services, alice) == before - charged, "balance exact to the micro-credit"
    async with services.db.read() as conn:
        usage = (
            await conn.execute(
                text(
                    "SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM ledger_entries"
                    " WHERE account_id = :u AND kind = 'usage'"
                ),
                {"u": alice},
            )
        ).one()
        runs = (
            await conn.execute(text("SELECT COUNT(*) FROM template_runs WHERE batch_id = :b"), {"b": batch["batch_id"]})
        ).scalar()
        open_holds = (
            await conn.execute(
                text("SELECT COUNT(*) FROM holds WHERE account_id = :u AND status = 'open'"), {"u": alice}
            )
        ).scalar()
    assert (usage[0], -usage[1]) == (45, charged)
    assert runs == 45 and open_holds == 0


async def test_runs_count_against_the_tokens_per_minute_limit(make_config, db):
    """A run counts its input bound plus max_tokens, as `chat` does: with 2,500 tokens a minute, two
    runs of a template capped at 1,000 output tokens pass and the third is refused, charging nothing."""
    from tests.identity.helpers import app_client

    config = make_config("[limits.roles.user]\nrequests_per_minute = 0\ntokens_per_minute = 2500\n")
    async with app_client(config) as client:
        services = client.app.state.services
        user_id, a = await _user(services, credits=10)
        template = {**GREETER, "params": {"max_tokens": 1000}}
        tid = (await client.post("/api/v1/templates", json=template, headers=a)).json()["id"]
        codes = []
        for _ in range(3):
            r = await client.post(f"/api/v1/templates/{tid}/execute", json={"variables": {"who": "Bo"}}, headers=a)
            codes.append(r.status_code)
        assert codes == [200, 200, 429], codes
        assert r.json()["error"]["code"] == "rate_limited" and float(r.headers["retry-after"]) > 0
        spent = 10 * MICRO - await _balance(services, user_id)
        batch = await client.post(f"/api/v1/templates/{tid}/batch", json={"items": [{"who": "x"}]}, headers=a)
        assert batch.status_code == 200 and batch.json()["items"][0]["error"]["code"] == "rate_limited", batch.text
        assert 10 * MICRO - await _balance(services, user_id) == spent


async def test_a_number_too_long_to_read_is_a_variable_error_not_a_500(client, services):
    _, a = await _user(services, credits=5)
    counter = {"name": "Counter", "body": "Count to {{ n }}.", "variables": [{"name": "n", "type": "number"}]}
    tid = (await client.post("/api/v1/templates", json=counter, headers=a)).json()["id"]
    huge = "9" * 5000  # past Python's 4300-digit limit for int()
    run = await client.post(f"/api/v1/templates/{tid}/execute", json={"variables": {"n": huge}}, headers=a)
    assert run.status_code == 400 and run.json()["error"]["code"] == "template_variable_type"
    batch = (await client.post(f"/api/v1/templates/{tid}/batch", json={"items": [{"n": huge}, {"n": "3"}]},
                               headers=a)).json()
    assert [(i["ok"], (i["error"] or {}).get("code")) for i in batch["items"]] == [
        (False, "template_variable_type"), (True, None)]


async def test_version_numbers_are_bounded(client, services):
    _, a = await _user(services, credits=5)
    tid = (await client.post("/api/v1/templates", json=GREETER, headers=a)).json()["id"]
    for version in ("1180591620717411303424", "9" * 5000, "1000001", "0", "x"):
        restored = await client.post(f"/api/v1/templates/{tid}/restore/{version}", headers=a)
        assert restored.status_code == 400, (version[:30], restored.text)
        assert restored.json()["error"]["code"] == "invalid_request"
    assert (await client.post(f"/api/v1/templates/{tid}/restore/1000000", headers=a)).status_code == 404
    for path, body in ((f"/api/v1/templates/{tid}/execute", {"variables": {"who": "Bo"}}),
                       (f"/api/v1/templates/{tid}/batch", {"items": [{"who": "Bo"}]}),
                       ("/api/v1/tools/run_template", {"template_id": tid, "variables": {"who": "Bo"}})):
        response = await client.post(path, json={**body, "version": 2**70}, headers=a)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["error"]["code"] == "invalid_request"



def _calls(services, outcome: str) -> float:
    return services.metrics.registry.get_sample_value(
        "smarthub_tool_calls_total", {"tool": "run_template", "outcome": outcome}) or 0.0


async def test_http_runs_and_batch_items_are_run_template_calls(client, services):
    """An HTTP run, and each batch item, is a `run_template` call through `invoke`: counted in the
    tool metrics by outcome, its permission checked there, charged through the same meter."""
    alice, a = await _user(services, credits=5)
    tid = (await client.post("/api/v1/templates", json=GREETER, headers=a)).json()["id"]
    before = await _balance(services, alice)
    ok = await client.post(f"/api/v1/templates/{tid}/execute", json={"variables": {"who": "Bo"}}, headers=a)
    assert ok.status_code == 200 and _calls(services, "ok") == 1
    batch = (await client.post(f"/api/v1/templates/{tid}/batch",
                               json={"items": [{"who": "x", "lang": "Latin"}, {"who": "Cy"}]}, headers=a)).json()
    assert [(i["ok"], (i["error"] or {}).get("code")) for i in batch["items"]] == [
        (False, "template_variable_type"), (True, None)]
    assert _calls(services, "template_variable_type") == 1 and _calls(services, "ok") == 2
    assert await _balance(services, alice) == before - ok.json()["charged_micro"] - batch["charged_micro"]
    _, guest = await _user(services, role="guest")
    refused = await client.post(f"/api/v1/templates/{tid}/execute", json={"variables": {"who": "Bo"}}, headers=guest)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
    assert _calls(services, "forbidden") == 1


async def test_a_run_holds_and_charges_what_the_same_chat_call_does(client, services):
    """One pricing for chat work: a template run and the `chat` tool given the rendered prompt and
    the same `max_tokens` hold the same estimate and charge the same credits."""
    alice, a = await _user(services, credits=5)
    tid = (await client.post("/api/v1/templates", json={**GREETER, "params": {"max_tokens": 300}},
                             headers=a)).json()["id"]
    run = (await client.post(f"/api/v1/templates/{tid}/execute", json={"variables": {"who": "Bo"}},
                             headers=a)).json()
    chat = (await client.post("/api/v1/tools/chat", json={"prompt": "Say hello to Bo in English.", "max_tokens": 300,
                                                           "model": run["model"]}, headers=a)).json()
    assert run["output"] == chat["text"] and run["charged_micro"] == int(MICRO * float(chat["credits_charged"]))
    async with services.db.read() as conn:
        held = (await conn.execute(text("SELECT reference, amount FROM holds WHERE account_id = :u"),
                                   {"u": alice})).all()
    assert sorted(tool for tool, _ in held) == ["chat", "run_template"]
    assert len({amount for _, amount in held}) == 1, held
