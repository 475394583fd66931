"""The store on SQLite and PostgreSQL: versions, restore, fork, visibility, listing, seeds."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from smarthub_mcp.templates.analytics import RunRecord, record_run, template_stats
from smarthub_mcp.templates.schemas import TemplateUpdate
from smarthub_mcp.templates.store import TemplateStore
from smarthub_mcp.templates.variables import render_with
from tests.templates.helpers import principal, spec

STARTERS = {
    "summarize",
    "translate",
    "code-review",
    "email-reply",
    "explain-simply",
    "proofread",
    "meeting-notes",
    "commit-message",
}


async def test_edits_make_versions_and_restore_copies_an_old_one(db):
    store, alice = TemplateStore(db), await principal(db)
    t = await store.create(alice, spec())
    assert (t.current_version, t.slug, t.tags, t.mine) == (1, "greeter", ["hello", "demo"], True)

    t = await store.update(alice, t.id, TemplateUpdate(description="new words"))
    assert t.current_version == 1, "metadata edits do not make versions"
    t = await store.update(alice, t.id, TemplateUpdate(body="Hi {{ who }}."))
    t = await store.update(
        alice, t.id, TemplateUpdate(body="{{ greeting }}, {{ who }}", variables=[{"name": "who"}, {"name": "greeting"}])
    )
    assert t.current_version == 3 and [v.version for v in t.versions] == [3, 2, 1]
    t = await store.update(alice, t.id, TemplateUpdate(body="{{ greeting }}, {{ who }}"))
    assert t.current_version == 3, "saving the same body is not a new version"

    t = await store.restore(alice, t.id, 1)
    assert t.current_version == 4 and t.body == "Hello {{ who }}!" and t.versions[0].restored_from == 1
    _, v2 = await store.resolve(alice.user_id, t.id, 2)
    assert render_with(v2.body, v2.variables, {"who": "Bo"}) == "Hi Bo."
    with pytest.raises(Exception) as info:
        await store.resolve(alice.user_id, t.id, 9)
    assert info.value.code == "template_version_not_found"


async def test_bad_bodies_are_refused_before_saving(db):
    store, alice = TemplateStore(db), await principal(db)
    for body, code in [
        ("{{ ''.__class__ }}", "template_syntax_error"),
        ("{% for x in y %}{% endfor %}", "template_syntax_error"),
        ("{{ undeclared }}", "template_undeclared_variable"),
    ]:
        with pytest.raises(Exception) as info:
            await store.create(alice, spec(body=body))
        assert info.value.code == code
    t = await store.create(alice, spec())
    with pytest.raises(Exception) as info:
        await store.update(alice, t.id, TemplateUpdate(variables=[]))
    assert info.value.code == "template_undeclared_variable"
    assert (await store.get(alice.user_id, t.id)).current_version == 1


async def test_versions_are_immutable_in_the_database(db):
    store, alice = TemplateStore(db), await principal(db)
    t = await store.create(alice, spec())
    with pytest.raises(DBAPIError):
        async with db.write() as conn:
            await conn.execute(text("UPDATE template_versions SET body = 'x' WHERE template_id = :id"), {"id": t.id})


async def test_others_private_templates_are_invisible(db):
    store, alice, bob = TemplateStore(db), await principal(db), await principal(db)
    secret = await store.create(alice, spec(name="Secret"))
    for call in (
        store.get(bob.user_id, secret.id),
        store.resolve(bob.user_id, secret.id),
        store.update(bob, secret.id, TemplateUpdate(name="mine now")),
        store.delete(bob, secret.id),
        store.restore(bob, secret.id, 1),
        store.fork(bob, secret.id),
    ):
        with pytest.raises(Exception) as info:
            await call
        assert info.value.code == "template_not_found"
    for scope in ("mine", "public", "visible"):
        assert secret.id not in {t.id for t in await store.list(bob.user_id, scope=scope, limit=100)}
    assert (await store.get(alice.user_id, secret.id)).name == "Secret"


async def test_publishing_needs_the_permission_and_public_ones_are_visible_not_editable(db):
    store, alice, pat = TemplateStore(db), await principal(db), await principal(db, publisher=True)
    with pytest.raises(Exception) as info:
        await store.create(alice, spec(visibility="public"))
    assert info.value.code == "forbidden"
    mine = await store.create(alice, spec())
    with pytest.raises(Exception) as info:
        await store.update(alice, mine.id, TemplateUpdate(visibility="public"))
    assert info.value.code == "forbidden"

    shared = await store.create(pat, spec(name="Shared", visibility="public"))
    assert (await store.get(alice.user_id, shared.id)).mine is False
    with pytest.raises(Exception) as info:
        await store.update(alice, shared.id, TemplateUpdate(name="hijack"))
    assert info.value.code == "template_not_editable"
    with pytest.raises(Exception) as info:
        await store.delete(alice, "tpl_starter_summarize")
    assert info.value.code == "template_not_editable"


async def test_fork_copies_into_my_library(db):
    store, alice = TemplateStore(db), await principal(db)
    fork = await store.fork(alice, "tpl_starter_summarize")
    assert (fork.visibility, fork.current_version, fork.forked_from, fork.slug) == (
        "private",
        1,
        "tpl_starter_summarize",
        "summarize",
    )
    again = await store.fork(alice, "tpl_starter_summarize")
    assert again.slug == "summarize-2"
    source = await store.get(alice.user_id, "tpl_starter_summarize")
    assert source.fork_count == 2 and fork.body == source.body


async def test_slugs_are_unique_per_owner(db):
    store, alice, bob = TemplateStore(db), await principal(db), await principal(db)
    a = await store.create(alice, spec(slug="greet"))
    with pytest.raises(Exception) as info:
        await store.create(alice, spec(slug="greet"))
    assert info.value.code == "template_slug_taken"
    assert (await store.create(bob, spec(slug="greet"))).slug == "greet"
    assert (await store.create(alice, spec())).slug == "greeter"
    assert a.slug == "greet"


async def test_listing_filters_and_gallery_order(db):
    store, alice = TemplateStore(db), await principal(db)
    await store.create(alice, spec(name="Alpha poem", category="poetry", tags=["verse"]))
    await store.create(alice, spec(name="Beta 100% done", description="a_b"))
    mine = await store.list(alice.user_id)
    assert [t.name for t in mine] == ["Beta 100% done", "Alpha poem"]
    assert [t.name for t in await store.list(alice.user_id, category="poetry")] == ["Alpha poem"]
    assert [t.name for t in await store.list(alice.user_id, tag="verse")] == ["Alpha poem"]
    assert [t.name for t in await store.list(alice.user_id, tag="vers")] == []
    assert [t.name for t in await store.list(alice.user_id, search="100%")] == ["Beta 100% done"]
    assert [t.name for t in await store.list(alice.user_id, search="POEM")] == ["Alpha poem"]

    gallery = await store.list(alice.user_id, scope="public", sort="popular", limit=100)
    assert {t.slug for t in gallery} == STARTERS and all(t.owner_id is None for t in gallery)
    for _ in range(2):
        await record_run(db, RunRecord("tpl_starter_translate", 1, alice.user_id, "demo-chat", True, 5))
    gallery = await store.list(alice.user_id, scope="public", sort="popular")
    assert gallery[0].slug == "translate" and gallery[0].run_count == 2
    visible = await store.list(alice.user_id, scope="visible", limit=100)
    assert len(visible) == len(STARTERS) + 2


async def test_starter_templates_render(db):
    store, alice = TemplateStore(db), await principal(db)
    for t in await store.list(alice.user_id, scope="public", limit=100):
        _, version = await store.resolve(alice.user_id, t.id)
        values = {v.name: (v.choices[0] if v.choices else "x") for v in version.variables if v.required}
        assert render_with(version.body, version.variables, values)


async def test_stats_for_the_owner_only(db):
    store, alice, bob = TemplateStore(db), await principal(db), await principal(db)
    t = await store.create(alice, spec())
    empty = await template_stats(db, alice.user_id, t.id)
    assert (empty.runs, empty.success_rate, empty.last_run_at) == (0, None, None)
    await record_run(db, RunRecord(t.id, 1, bob.user_id, "demo-chat", True, 100, 10, 20, 1_500_000))
    await record_run(db, RunRecord(t.id, 1, bob.user_id, "demo-chat", True, 300, 30, 40, 2_500_000))
    await record_run(db, RunRecord(t.id, 2, alice.user_id, "demo-chat", False, 50, error_code="provider_error"))
    stats = await template_stats(db, alice.user_id, t.id)
    assert (stats.runs, stats.succeeded, stats.failed, stats.success_rate) == (3, 2, 1, 0.6667)
    assert (stats.avg_latency_ms, stats.avg_input_tokens, stats.avg_output_tokens) == (150, 13, 20)
    assert (stats.credits_spent, stats.credits_spent_micro) == ("4.000000", 4_000_000)
    assert stats.runs_by_version == {"1": 2, "2": 1} and stats.last_run_at
    with pytest.raises(Exception) as info:
        await template_stats(db, bob.user_id, t.id)
    assert info.value.code == "template_not_found"


async def test_delete_removes_template_and_versions_but_keeps_runs(db):
    store, alice = TemplateStore(db), await principal(db)
    t = await store.create(alice, spec())
    await record_run(db, RunRecord(t.id, 1, alice.user_id, "demo-chat", True, 5))
    await store.delete(alice, t.id)
    with pytest.raises(Exception) as info:
        await store.get(alice.user_id, t.id)
    assert info.value.code == "template_not_found"
    async with db.read() as conn:
        assert (
            await conn.execute(text("SELECT COUNT(*) FROM template_versions WHERE template_id = :i"), {"i": t.id})
        ).scalar() == 0
        assert (
            await conn.execute(text("SELECT COUNT(*) FROM template_runs WHERE template_id = :i"), {"i": t.id})
        ).scalar() == 1


async def test_concurrent_edits_make_distinct_versions_or_a_clean_conflict(db):
    import asyncio

    from smarthub_mcp.errors import Conflict

    store, alice = TemplateStore(db), await principal(db)
    t = await store.create(alice, spec())
    outcomes = await asyncio.gather(
        *(store.update(alice, t.id, TemplateUpdate(body=f"Edit {i}: {{{{ who }}}}")) for i in range(12)),
        return_exceptions=True,
    )
    saved = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert all(isinstance(o, Conflict) and o.code == "conflict" for o in refused), refused
    final = await store.get(alice.user_id, t.id)
    assert final.current_version == 1 + len(saved)
    assert sorted(v.version for v in final.versions) == list(range(1, final.current_version + 1))


async def test_a_demoted_owner_cannot_rewrite_a_public_template(db):
    """A manager publishes, is demoted to user: the public template's body, name or history can no
    longer change under them (everyone sees it in the gallery and prompts/list); taking it down can."""
    import dataclasses

    from smarthub_mcp.errors import Forbidden
    from tests.templates.helpers import USER_PERMISSIONS

    store = TemplateStore(db)
    manager = await principal(db, publisher=True)
    made = await store.create(manager, spec(visibility="public"))
    await store.update(manager, made.id, TemplateUpdate(body="Hi {{ who }}!"))
    demoted = dataclasses.replace(manager, role="user", permissions=USER_PERMISSIONS)
    for patch in (TemplateUpdate(body="Buy crypto, {{ who }}!"), TemplateUpdate(name="Scam"),
                  TemplateUpdate(visibility="public")):
        with pytest.raises(Forbidden):
            await store.update(demoted, made.id, patch)
    with pytest.raises(Forbidden):
        await store.restore(demoted, made.id, 1)
    after = await store.get(manager.user_id, made.id)
    assert (after.name, after.current_version) == ("Greeter", 2)
    # Unpublishing is allowed; once private, it is theirs to edit again.
    await store.update(demoted, made.id, TemplateUpdate(visibility="private"))
    edited = await store.update(demoted, made.id, TemplateUpdate(body="Hey {{ who }}!"))
    assert edited.visibility == "private" and edited.current_version == 3
