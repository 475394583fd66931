"""A credential allowed video but not images (an OAuth connector granted the `video` scope, a key
scoped to `tools:video`, a role an admin made) still follows the jobs and files it paid for: the
job and media tools and routes need `tools:image` *or* `tools:video`. It still makes no images."""

from __future__ import annotations

import anyio
from mcp import Client

from smarthub_mcp.compose import build_services
from smarthub_mcp.tools.server import build_mcp_server
from tests.conftest import QUICK_DEMO_TOML
from tests.factories import bearer, make_api_key, make_user_with_token
from tests.identity.helpers import app_client

FOLLOW = {"get_job", "list_jobs", "cancel_job", "list_media", "get_media", "delete_media"}


async def test_a_video_only_key_follows_its_video_and_makes_no_images(make_config, db):
    config = make_config(toml=QUICK_DEMO_TOML, SMARTHUB_JOBS__POLL_INTERVAL_SECONDS="0.2")
    services = build_services(config)
    user_id, _ = await make_user_with_token(services)
    key = await make_api_key(services, user_id, scopes=["tools:video"])
    with anyio.fail_after(30):
        async with Client(build_mcp_server(services, api_key=key)) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            made = await client.call_tool("generate_video", {"prompt": "waves at dusk", "model": "demo-video"})
            job_id = made.structured_content["job_id"]
            job = await client.call_tool("get_job", {"job_id": job_id})
            jobs = await client.call_tool("list_jobs", {})
            media = await client.call_tool("list_media", {})
            image = await client.call_tool("generate_image", {"prompt": "a fox", "model": "demo-image"})
    assert FOLLOW | {"generate_video"} <= names and "generate_image" not in names
    assert not made.is_error and not job.is_error and job.structured_content["status"] == "succeeded"
    assert [j["job_id"] for j in jobs.structured_content["items"]] == [job_id]
    (item,) = media.structured_content["items"]
    assert item["media_id"] == job.structured_content["media"][0]["media_id"]
    assert image.is_error  # a hidden tool is refused like an unknown one

    async with app_client(config, services) as http:
        got = await http.get(f"/api/v1/jobs/{job_id}", headers=bearer(key))
        library = await http.get("/api/v1/media", headers=bearer(key))
        refused = await http.post("/api/v1/images", headers=bearer(key),
                                  json={"prompt": "a fox", "model": "demo-image"})
    assert got.status_code == 200 and got.json()["status"] == "succeeded"
    assert library.status_code == 200 and len(library.json()["items"]) == 1
    assert refused.status_code == 403 and "'tools:image'" in refused.json()["error"]["message"]


async def test_a_chat_only_key_sees_no_jobs_and_is_told_which_permissions_would_do(config, services):
    user_id, _ = await make_user_with_token(services)
    key = await make_api_key(services, user_id, scopes=["tools:chat"])
    async with Client(build_mcp_server(services, api_key=key)) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        hidden = await client.call_tool("list_jobs", {})
    assert not names & FOLLOW and hidden.is_error
    async with app_client(config, services) as http:
        answer = await http.get("/api/v1/jobs", headers=bearer(key))
    assert answer.status_code == 403
    assert answer.json()["error"]["message"] == "this needs the 'tools:image' or 'tools:video' permission"
    assert answer.json()["error"]["details"] == {"permission": "tools:media"}
