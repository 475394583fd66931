"""`/api/v1/media` and the signed download route, over HTTP in process: the owner lists, shows,
downloads and deletes; anyone else gets a 404; altered and expired links a 403; never a 500."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest

from smarthub_mcp.app import build_app
from smarthub_mcp.media import library
from smarthub_mcp.media.library import MediaMeta
from tests.conftest import running_app
from tests.factories import bearer, make_user_with_token
from tests.media.helpers import image_bytes

META = MediaMeta(prompt="a red fox", model="demo-image", provider="demo", cost=40_000, job_id="job_x")


def local(link: str) -> str:
    split = urlsplit(link)
    return f"{split.path}?{split.query}"


async def test_owner_lists_shows_downloads_and_deletes(services, client, clock):
    alice, token = await make_user_with_token(services)
    data = image_bytes(900, 600, noise=True)
    item = await library.save_output(services.storage, services.db, alice, data, "image/png", META)

    listed = await client.get("/api/v1/media", headers=bearer(token))
    assert listed.status_code == 200
    body = listed.json()
    assert body["next_cursor"] is None and [m["media_id"] for m in body["items"]] == [item.id]
    shown = (await client.get(f"/api/v1/media/{item.id}", headers=bearer(token))).json()
    assert {k: shown[k] for k in ("media_id", "status", "job_id", "cost", "width", "content_type")} == {
        "media_id": item.id, "status": "ready", "job_id": "job_x", "cost": "0.040000", "width": 900,
        "content_type": "image/png"}
    assert shown["url_expires_in"] == services.settings.storage.url_ttl_seconds

    got = await client.get(local(shown["url"]))
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-type"] == "image/png" and got.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in got.headers["content-security-policy"]
    preview = await client.get(local(shown["preview_url"]))
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/jpeg"
    assert len(preview.content) <= 200_000

    clock.now += shown["url_expires_in"]
    expired = await client.get(local(shown["url"]))
    assert expired.status_code == 403 and expired.json()["error"]["code"] == "media_link_expired"

    deleted = await client.delete(f"/api/v1/media/{item.id}", headers=bearer(token))
    assert deleted.status_code == 200 and deleted.json() == {"media_id": item.id, "status": "deleted"}
    clock.now -= shown["url_expires_in"]  # the link is in date again, but its object is gone
    assert (await client.get(local(shown["url"]))).status_code == 404
    assert not (services.storage.root / item.storage_key).exists()
    assert (await client.get(f"/api/v1/media/{item.id}", headers=bearer(token))).status_code == 404
    again = await client.delete(f"/api/v1/media/{item.id}", headers=bearer(token))
    assert again.status_code == 200  # deleting again is not an error


async def test_another_users_media_is_a_404(services, client):
    alice, _ = await make_user_with_token(services)
    _, bob_token = await make_user_with_token(services)
    item = await library.save_output(services.storage, services.db, alice, image_bytes(), "image/png", META)
    for method in ("GET", "DELETE"):
        response = await client.request(method, f"/api/v1/media/{item.id}", headers=bearer(bob_token))
        assert response.status_code == 404 and response.json()["error"]["code"] == "media_not_found"
    assert (await client.get("/api/v1/media", headers=bearer(bob_token))).json()["items"] == []
    assert await services.storage.get(item.storage_key)


async def test_a_guest_without_the_image_permission_is_refused(services, client):
    _, token = await make_user_with_token(services, role="guest")
    response = await client.get("/api/v1/media", headers=bearer(token))
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"


async def test_altered_links_are_refused_and_nothing_is_a_500(services, client):
    alice, _ = await make_user_with_token(services)
    item = await library.save_output(services.storage, services.db, alice, image_bytes(), "image/png", META)
    other = await library.save_output(services.storage, services.db, alice, image_bytes(), "image/png", META)
    link = local(services.storage.url(item.storage_key, expires_in=60))
    path, query = link.split("?")
    exp, sig = (p.split("=", 1)[1] for p in query.split("&"))
    assert (await client.get(link)).status_code == 200
    refused = [
        f"/media/{other.storage_key}?{query}",                   # the signature of one object on another
        f"{path}?exp={int(exp) + 1}&sig={sig}",                   # a later expiry
        f"{path}?exp={exp}&sig={sig[:-2]}AA",                     # a changed signature
        f"{path}?exp={exp}", f"{path}?sig={sig}", path,           # parts missing
        f"{path}?exp=abc&sig={sig}", f"{path}?exp={exp}&sig=%00%ff",
        f"/media/{alice}/%2e%2e/{item.storage_key}?{query}",  # (a plain ../ is resolved by the client)
        f"/media/%2e%2e/%2e%2e/etc/passwd?{query}",
        f"/media/..%2f..%2fetc%2fpasswd?{query}",
        f"/media/{item.storage_key}%00?{query}",
    ]
    for url in refused:
        response = await client.get(url)
        assert response.status_code in (400, 403, 404), (url, response.status_code, response.text)
        # 400: a NUL in the URL is refused at the door (TextGuardMiddleware), before any route.
        assert response.json()["error"]["code"] in ("media_link_invalid", "media_not_found", "invalid_request"), url


async def test_s3_links_come_presigned_from_the_store(make_services, s3_storage):
    services = make_services(s3_storage)
    alice, token = await make_user_with_token(services)
    data = image_bytes(64, 64)
    item = await library.save_output(s3_storage, services.db, alice, data, "image/png", META)
    app = build_app(services=services)
    async with running_app(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as client:
            shown = (await client.get(f"/api/v1/media/{item.id}", headers=bearer(token))).json()
            # The app serves no S3 object itself: its download route knows only local links.
            assert (await client.get(f"/media/{item.storage_key}?exp=1&sig=x")).status_code == 404
            assert (await client.delete(f"/api/v1/media/{item.id}", headers=bearer(token))).status_code == 200
    assert "X-Amz-Signature=" in shown["url"] and "X-Amz-Expires=3600" in shown["url"]
    async with httpx.AsyncClient() as plain:
        assert (await plain.get(shown["url"])).status_code == 404  # deleted from the bucket


@pytest.mark.parametrize("limit", ["0", "101", "x", "1e3"])
async def test_bad_page_parameters_are_400(services, client, limit):
    _, token = await make_user_with_token(services)
    response = await client.get(f"/api/v1/media?limit={limit}", headers=bearer(token))
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"
    bad_cursor = await client.get("/api/v1/media?cursor=%27%20OR%201%3D1", headers=bearer(token))
    assert bad_cursor.status_code == 400
