"""The media library on both databases: outputs saved with their object and preview, listed and shown
to their owner only, deleted with their stored files; both storage backends."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from smarthub_mcp.errors import Conflict, InvalidRequest
from smarthub_mcp.ids import new_id
from smarthub_mcp.media import library
from smarthub_mcp.media.errors import InvalidMedia, MediaNotFound
from smarthub_mcp.media.library import MediaMeta
from smarthub_mcp.media.thumbs import MAX_PREVIEW_BYTES
from tests.factories import make_user
from tests.media.helpers import image_bytes

META = MediaMeta(prompt="a red fox", model="demo-image", provider="demo", cost=40_000, job_id="job_x")


async def test_save_output_stores_the_object_and_a_preview_then_records_them(db, any_storage):
    owner = await make_user(db)
    data = image_bytes(1600, 1200, noise=True)
    item = await library.save_output(any_storage, db, owner, data, "image/png", META)
    assert item.owner_id == owner and item.id.startswith("med_") and item.kind == "image"
    assert (item.width, item.height, item.bytes, item.content_type) == (1600, 1200, len(data), "image/png")
    assert (item.prompt, item.model, item.provider, item.cost, item.job_id) == (
        "a red fox", "demo-image", "demo", 40_000, "job_x")
    assert item.storage_key == f"{owner}/{item.id}.png" and item.deleted_at is None
    assert await any_storage.get(item.storage_key) == data
    assert item.preview_key and len(await any_storage.get(item.preview_key)) <= MAX_PREVIEW_BYTES
    assert item.preview_content_type == "image/jpeg"
    assert await library.get_for(db, owner, item.id) == item


async def test_another_users_media_is_not_found_and_cannot_be_deleted(db, local_storage):
    alice, bob = await make_user(db), await make_user(db)
    item = await library.save_output(local_storage, db, alice, image_bytes(), "image/png", META)
    for media_id in (item.id, new_id("med"), "med_nope", "../etc", "", "x" * 5000):
        with pytest.raises(MediaNotFound):
            await library.get_for(db, bob, media_id)
        with pytest.raises(MediaNotFound):
            await library.delete_for(local_storage, db, bob, media_id)
    assert await local_storage.get(item.storage_key)  # Alice's file survived Bob's attempts
    assert (await library.list_for(db, bob))[0] == []


async def test_delete_removes_the_object_and_its_preview_and_is_safe_to_repeat(db, any_storage):
    owner = await make_user(db)
    item = await library.save_output(any_storage, db, owner, image_bytes(), "image/png", META)
    await library.delete_for(any_storage, db, owner, item.id)
    for key in (item.storage_key, item.preview_key):
        with pytest.raises(MediaNotFound):
            await any_storage.get(key)
    with pytest.raises(MediaNotFound):
        await library.get_for(db, owner, item.id)
    assert (await library.list_for(db, owner))[0] == []
    again = await library.delete_for(any_storage, db, owner, item.id)  # idempotent
    assert again.deleted_at is not None
    async with db.read() as conn:  # the row stays for the books
        row = (await conn.execute(text("SELECT deleted_at, cost FROM media WHERE id = :id"), {"id": item.id})).one()
    assert row.deleted_at is not None and row.cost == 40_000


async def test_listing_is_newest_first_with_a_cursor(db, local_storage):
    owner, other = await make_user(db), await make_user(db)
    made = [await library.save_output(local_storage, db, owner, image_bytes(8, 8), "image/png",
                                      MediaMeta(prompt=f"p{i}")) for i in range(5)]
    await library.save_output(local_storage, db, other, image_bytes(8, 8), "image/png", META)
    await library.delete_for(local_storage, db, owner, made[2].id)
    first, cursor = await library.list_for(db, owner, limit=2)
    assert [m.prompt for m in first] == ["p4", "p3"] and cursor == made[3].id
    second, cursor = await library.list_for(db, owner, limit=2, cursor=cursor)
    assert [m.prompt for m in second] == ["p1", "p0"] and cursor is None
    assert (await library.list_for(db, owner, limit=2, cursor=made[0].id)) == ([], None)
    for bad in ({"limit": 0}, {"limit": 101}, {"cursor": "' OR 1=1 --"}):
        with pytest.raises(InvalidRequest):
            await library.list_for(db, owner, **bad)


async def test_saving_with_a_chosen_id_twice_keeps_one_row(db, local_storage):
    """A job that crashed after saving and saves again (same media id) gets the same item back."""
    owner, media_id = await make_user(db), new_id("med")
    meta = MediaMeta(prompt="again", media_id=media_id, cost=5)
    first = await library.save_output(local_storage, db, owner, image_bytes(), "image/png", meta)
    second = await library.save_output(local_storage, db, owner, image_bytes(), "image/png", meta)
    assert first == second and first.id == media_id
    assert len((await library.list_for(db, owner))[0]) == 1
    with pytest.raises(Conflict):  # another owner cannot take the id over
        await library.save_output(local_storage, db, await make_user(db), image_bytes(), "image/png", meta)


async def test_record_inside_a_callers_transaction(db, local_storage):
    owner = await make_user(db)
    stored = await library.store_output(local_storage, owner, image_bytes(), "image/png", META)
    async with db.write() as conn:
        item = await library.record(conn, stored, META)
    assert await library.get_for(db, owner, item.id) == item


async def test_what_cannot_be_kept_is_refused_before_anything_is_stored(db, local_storage):
    owner = await make_user(db)
    for data, content_type in ((b"not an image", "image/png"), (b"<svg/>", "image/svg+xml"), (b"<p>", "text/html")):
        with pytest.raises(InvalidMedia):
            await library.save_output(local_storage, db, owner, data, content_type, META)
    assert not local_storage.root.exists() or not any(local_storage.root.rglob("*.*"))
    with pytest.raises(InvalidRequest):
        MediaMeta(cost=-1)


async def test_a_video_is_kept_without_a_preview(db, any_storage):
    owner = await make_user(db)
    clip = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 1000
    item = await library.save_output(any_storage, db, owner, clip, "video/mp4",
                                     MediaMeta(prompt="waves", width=1280, height=720))
    assert (item.kind, item.preview_key, item.width, item.storage_key[-4:]) == ("video", None, 1280, ".mp4")
    assert await any_storage.get(item.storage_key) == clip


async def test_a_row_that_cannot_be_written_leaves_no_files(db, local_storage):
    missing_owner = "usr_" + "0" * 26  # no such user: the foreign key refuses the row
    with pytest.raises(Exception):  # noqa: B017 -- the database's own integrity error
        await library.save_output(local_storage, db, missing_owner, image_bytes(), "image/png", META)
    assert not any(p.is_file() for p in local_storage.root.rglob("*"))
