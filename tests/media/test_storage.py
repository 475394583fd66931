"""Both storage backends through the one interface: put, get, delete, links; keys that would leave
the store are refused."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from smarthub_mcp.media.errors import MediaNotFound
from smarthub_mcp.media.storage import MAX_URL_TTL_SECONDS
from tests.media.helpers import image_bytes


async def test_put_get_delete_round_trip(any_storage):
    data = image_bytes()
    await any_storage.put("usr_a/med_1.png", data, "image/png")
    assert await any_storage.get("usr_a/med_1.png") == data
    await any_storage.put("usr_a/med_1.png", b"replaced", "image/png")  # a put replaces the object
    assert await any_storage.get("usr_a/med_1.png") == b"replaced"
    await any_storage.delete("usr_a/med_1.png")
    with pytest.raises(MediaNotFound):
        await any_storage.get("usr_a/med_1.png")
    await any_storage.delete("usr_a/med_1.png")  # deleting again is not an error
    with pytest.raises(MediaNotFound):
        await any_storage.get("usr_a/never.png")


@pytest.mark.parametrize("key", [
    "../outside.png", "usr_a/../../etc/passwd", "/etc/passwd", "usr_a/./x.png", ".hidden", "a\\b.png",
    "a//b.png", "a/b.png\x00", "a/ b.png", "", "a/" + "b" * 600, "usr_a/..", "usr_a/.../x",
])
async def test_keys_that_could_name_another_file_are_refused(any_storage, key):
    with pytest.raises(MediaNotFound):
        await any_storage.put(key, b"x", "image/png")
    with pytest.raises(MediaNotFound):
        await any_storage.get(key)
    with pytest.raises(MediaNotFound):
        await any_storage.delete(key)
    with pytest.raises(MediaNotFound):
        any_storage.url(key, expires_in=60)


async def test_local_files_stay_under_the_root_even_through_a_symlink(local_storage, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(b"secret")
    local_storage.root.mkdir(parents=True)
    (local_storage.root / "usr_a").symlink_to(outside)
    with pytest.raises(MediaNotFound):
        await local_storage.get("usr_a/secret.png")
    with pytest.raises(MediaNotFound):
        await local_storage.put("usr_a/new.png", b"x", "image/png")
    assert not (outside / "new.png").exists()


async def test_local_writes_leave_no_partial_files(local_storage):
    await local_storage.put("usr_a/med_1.png", b"x" * 10_000, "image/png")
    assert sorted(p.name for p in (local_storage.root / "usr_a").iterdir()) == ["med_1.png"]


async def test_s3_presigned_link_downloads_the_object_and_carries_its_expiry(s3_storage):
    data = image_bytes()
    await s3_storage.put("usr_a/med_1.png", data, "image/png")
    link = s3_storage.url("usr_a/med_1.png", expires_in=300)
    query = parse_qs(urlsplit(link).query)
    # moto does not enforce expiry, so check what S3 would: the signed lifetime and signed start.
    assert query["X-Amz-Expires"] == ["300"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and "X-Amz-Signature" in query
    assert urlsplit(link).path.endswith("/smarthub/usr_a/med_1.png")
    async with httpx.AsyncClient() as client:
        got = await client.get(link)
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-type"] == "image/png"


async def test_link_lifetimes_are_bounded(any_storage):
    for bad in (0, -1, MAX_URL_TTL_SECONDS + 1):
        with pytest.raises(ValueError):
            any_storage.url("usr_a/med_1.png", expires_in=bad)
    assert any_storage.url("usr_a/med_1.png", expires_in=MAX_URL_TTL_SECONDS)


async def test_s3_outage_is_storage_unavailable_not_a_crash(moto_url):
    from smarthub_mcp.media.errors import StorageUnavailable
    from smarthub_mcp.media.s3 import S3Storage
    from tests.conftest import free_port
    from tests.media.conftest import S3_KEYS

    store = S3Storage("nobucket", endpoint_url=f"http://127.0.0.1:{free_port()}", region="us-east-1",
                      addressing_style="path", timeout_seconds=2, **S3_KEYS)
    with pytest.raises(StorageUnavailable):
        await store.put("usr_a/med_1.png", b"x", "image/png")
    missing_bucket = S3Storage("no-such-bucket", endpoint_url=moto_url, region="us-east-1",
                               addressing_style="path", **S3_KEYS)
    with pytest.raises(StorageUnavailable):
        await missing_bucket.put("usr_a/med_1.png", b"x", "image/png")


async def test_a_directory_that_cannot_be_written_is_storage_unavailable(tmp_path):
    from smarthub_mcp.media.errors import StorageUnavailable
    from smarthub_mcp.media.local import LocalStorage
    from smarthub_mcp.media.signing import UrlSigner

    blocked = tmp_path / "file-not-dir"
    blocked.write_bytes(b"")  # the configured root is a file: nothing can be created under it
    store = LocalStorage(blocked, signer=UrlSigner(lambda: b"k" * 32), public_base_url="http://x")
    with pytest.raises(StorageUnavailable) as refused:
        await store.put("usr_a/med_1.png", b"x", "image/png")
    assert refused.value.status == 503 and refused.value.headers == {"Retry-After": "5"}
    with pytest.raises(MediaNotFound):
        await store.get("usr_a/med_1.png")
    await store.delete("usr_a/med_1.png")
