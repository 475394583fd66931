"""Images and jobs from outside: the SDK's MCP client over real HTTP (progress while it waits, image
previews beside the links), the HTTP routes, a batch, and OpenAI's SDK on /v1/images/generations."""

from __future__ import annotations

import base64

import anyio
import httpx2
import openai
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import ImageContent

from tests.factories import bearer, make_api_key, make_user_with_token

PRICE = 10_000


async def balance_of(services, user_id: str) -> tuple[int, int]:
    bal = await services.ledger.balance(user_id)
    return bal.balance, bal.held


async def test_generate_image_over_mcp_http_sends_progress_and_previews(services, live_server, client):
    alice, token = await make_user_with_token(services)
    before, _ = await balance_of(services, alice)
    progress: list[float] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(done)

    mcp = Client(streamable_http_client(f"{live_server.url}/mcp", http_client=httpx2.AsyncClient(
        headers=bearer(token))), mode="legacy")
    with anyio.fail_after(60):
        async with mcp:
            assert {"generate_image", "get_job", "list_jobs", "cancel_job"} <= {
                t.name for t in (await mcp.list_tools()).tools}
            result = await mcp.call_tool("generate_image", {"prompt": "a slow fox", "model": "demo-image-slow",
                                                            "count": 2}, progress_callback=on_progress)
    assert not result.is_error
    out = result.structured_content
    assert out["status"] == "succeeded" and out["delivered"] == 2 and len(out["media"]) == 2
    assert progress, "progress notifications arrived while the job ran"
    previews = [c for c in result.content if isinstance(c, ImageContent)]
    assert len(previews) == 2 and all(p.mime_type == "image/jpeg" for p in previews)
    assert out["job_id"] in result.content[0].text and out["media"][0]["url"] in result.content[0].text
    got = await client.get(out["media"][0]["url"].removeprefix("http://testserver"))
    assert got.status_code == 200 and got.content.startswith(b"\x89PNG")
    assert await balance_of(services, alice) == (before - 2 * PRICE, 0)


async def test_jobs_routes_show_list_and_cancel_for_the_owner_only(services, client):
    alice, alice_token = await make_user_with_token(services)
    _, bob_token = await make_user_with_token(services)
    services.settings.jobs.http_wait_seconds = 0
    made = await client.post("/api/v1/images", json={"prompt": "slow", "model": "demo-image-slow"},
                             headers=bearer(alice_token))
    assert made.status_code == 200, made.text
    job_id = made.json()["job_id"]
    assert made.json()["status"] in ("running", "queued")
    shown = await client.get(f"/api/v1/jobs/{job_id}", headers=bearer(alice_token))
    assert shown.status_code == 200 and shown.json()["credits_held"] == "0.010000"
    listed = await client.get("/api/v1/jobs?status=running", headers=bearer(alice_token))
    assert [j["job_id"] for j in listed.json()["items"]] == [job_id]
    for method, path in (("GET", f"/api/v1/jobs/{job_id}"), ("POST", f"/api/v1/jobs/{job_id}/cancel")):
        refused = await client.request(method, path, headers=bearer(bob_token))
        assert refused.status_code == 404 and refused.json()["error"]["code"] == "job_not_found"
    cancelled = await client.post(f"/api/v1/jobs/{job_id}/cancel", headers=bearer(alice_token))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert (await balance_of(services, alice))[1] == 0
    bad = await client.get("/api/v1/jobs?status=nope", headers=bearer(alice_token))
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_request"
    assert (await client.get("/api/v1/jobs")).status_code == 401


async def test_a_batch_charges_each_item_on_its_own(services, client):
    alice, token = await make_user_with_token(services)
    before, _ = await balance_of(services, alice)
    body = {"items": [{"prompt": "one", "model": "demo-image"}, {"prompt": "two", "model": "demo-image", "count": 2},
                      {"prompt": "three", "model": "no-such-model"}]}
    answer = await client.post("/api/v1/images/batch", json=body, headers=bearer(token))
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert [i["ok"] for i in items] == [True, True, False]
    assert items[2]["error"]["code"] == "unknown_model"
    assert [i["result"]["delivered"] for i in items[:2]] == [1, 2]
    assert await balance_of(services, alice) == (before - 3 * PRICE, 0)
    malformed = await client.post("/api/v1/images/batch", json={"items": [{"prompt": ""}]}, headers=bearer(token))
    assert malformed.status_code == 400
    too_many = await client.post("/api/v1/images/batch", json={"items": [{"prompt": "x"}] * 11}, headers=bearer(token))
    assert too_many.status_code == 400
    assert await balance_of(services, alice) == (before - 3 * PRICE, 0)
    assert await services.ledger.check() == []


async def test_openai_sdk_generates_images_by_url_and_base64(services, live_server, client):
    alice, _ = await make_user_with_token(services)
    key = await make_api_key(services, alice)
    before, _ = await balance_of(services, alice)
    sdk = openai.AsyncOpenAI(base_url=f"{live_server.url}/v1", api_key=key, max_retries=0, timeout=30)
    by_url = await sdk.images.generate(model="demo-image", prompt="a fox", n=2, size="512x512")
    assert len(by_url.data) == 2 and all(d.url and "/media/" in d.url for d in by_url.data)
    fetched = await client.get(by_url.data[0].url.removeprefix("http://testserver"))
    assert fetched.status_code == 200
    inline = await sdk.images.generate(model="demo-image", prompt="a fox", response_format="b64_json")
    assert base64.b64decode(inline.data[0].b64_json).startswith(b"\x89PNG")
    assert await balance_of(services, alice) == (before - 2 * 5_000 - PRICE, 0)
    with pytest.raises(openai.BadRequestError) as info:
        await sdk.images.generate(model="demo-image", prompt="a fox", extra_body={"colour": "red"})
    assert info.value.body["code"] == "unsupported_parameter"
    with pytest.raises(openai.BadRequestError):
        await sdk.images.generate(model="demo-image", prompt="a fox", size="333x333")
    assert await balance_of(services, alice) == (before - 2 * 5_000 - PRICE, 0)
    await sdk.close()
