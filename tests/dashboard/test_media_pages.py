"""The media gallery, the jobs list with its live-progress JSON, and connected apps, over HTTP on
both databases; another user's media and jobs stay invisible and untouchable."""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

import httpx

from smarthub_mcp.services import Services
from tests.dashboard.helpers import make_person, post_form, sign_in
from tests.factories import bearer


async def image_for(client: httpx.AsyncClient, services: Services, user_id: str, prompt: str) -> dict:
    token = services.identity.codec.issue(user_id=user_id, role="user").token
    made = await client.post("/api/v1/images", json={"prompt": prompt, "model": "demo-image"}, headers=bearer(token))
    assert made.status_code == 200 and made.json()["status"] == "succeeded", made.text
    return made.json()


def local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def test_the_gallery_shows_downloads_and_deletes_the_owners_images(app, client: httpx.AsyncClient,
                                                                         services: Services):
    user_id, email = await make_person(services)
    _, other_email = await make_person(services)
    job = await image_for(client, services, user_id, "a red kite over dunes")
    media_id = job["media"][0]["media_id"]
    await sign_in(client, email)
    gallery = await client.get("/dashboard/media")
    assert gallery.status_code == 200 and 'alt="a red kite over dunes"' in gallery.text
    assert "http://127.0.0.1:8000" in gallery.headers["content-security-policy"]  # the store's links
    download = re.search(r'<a href="([^"]+)" download>', gallery.text).group(1)
    got = await client.get(local(html.unescape(download)))
    assert got.status_code == 200 and got.content.startswith(b"\x89PNG")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as other:
        await sign_in(other, other_email)
        assert "a red kite" not in (await other.get("/dashboard/media")).text
        refused = await post_form(other, f"/dashboard/media/{media_id}/delete", {}, page="/dashboard/media")
        assert refused.status_code == 404
    deleted = await post_form(client, f"/dashboard/media/{media_id}/delete", {}, page="/dashboard/media")
    assert deleted.status_code == 200 and "Deleted." in deleted.text and "a red kite" not in deleted.text


async def test_jobs_are_listed_and_their_state_is_readable_by_the_owner_only(app, client: httpx.AsyncClient,
                                                                              services: Services):
    user_id, email = await make_person(services)
    _, other_email = await make_person(services)
    job = await image_for(client, services, user_id, "a lighthouse at dusk")
    await sign_in(client, email)
    listed = await client.get("/dashboard/jobs")
    assert listed.status_code == 200 and "a lighthouse at dusk" in listed.text and "succeeded" in listed.text
    state = await client.get(f"/dashboard/jobs/{job['job_id']}.json")
    assert state.status_code == 200 and state.json()["status"] == "succeeded" and state.json()["progress"] == 100
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as other:
        await sign_in(other, other_email)
        assert (await other.get(f"/dashboard/jobs/{job['job_id']}.json")).status_code == 404
        assert "a lighthouse" not in (await other.get("/dashboard/jobs")).text


async def test_connected_apps_page_and_an_unknown_grant(client: httpx.AsyncClient, services: Services):
    _, email = await make_person(services)
    await sign_in(client, email)
    apps = await client.get("/dashboard/apps")
    assert apps.status_code == 200 and "No apps are connected" in apps.text
    r = await post_form(client, "/dashboard/apps/grt_nope/disconnect", {}, page="/dashboard/apps")
    assert r.status_code == 404 and "not_found" in r.text
