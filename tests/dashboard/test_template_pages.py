"""Templates in the browser over HTTP on both databases: the gallery, the run form built from the
variables, a run charged through the meter and shown on the dashboard; analytics for the owner."""

from __future__ import annotations

import httpx
from sqlalchemy import text

from smarthub_mcp.services import Services
from smarthub_mcp.templates.schemas import TemplateCreate
from smarthub_mcp.templates.store import TemplateStore
from tests.dashboard.helpers import make_person, post_form, sign_in

SUMMARIZE = "tpl_starter_summarize"


async def test_the_gallery_lists_the_starters_and_the_form_follows_the_variables(client: httpx.AsyncClient,
                                                                                  services: Services):
    _, email = await make_person(services)
    await sign_in(client, email)
    listing = await client.get("/dashboard/templates")
    assert listing.status_code == 200 and f"/dashboard/templates/{SUMMARIZE}" in listing.text
    page = await client.get(f"/dashboard/templates/{SUMMARIZE}")
    assert page.status_code == 200
    assert '<textarea id="var_text" name="var_text"' in page.text  # a string
    assert '<select id="var_length" name="var_length"' in page.text and "one sentence" in page.text  # an enum
    assert "Versions" not in page.text and "Analytics" not in page.text  # the owner's only
    assert (await client.get("/dashboard/templates/tpl_nope")).status_code == 404


async def test_a_run_is_charged_and_appears_on_the_dashboard(client: httpx.AsyncClient, services: Services):
    user_id, email = await make_person(services)
    await sign_in(client, email)
    before = (await services.ledger.balance(user_id)).balance
    r = await post_form(client, f"/dashboard/templates/{SUMMARIZE}/run",
                        {"var_text": "The meeting moved to Tuesday.", "var_length": "", "var_format": ""},
                        page=f"/dashboard/templates/{SUMMARIZE}")
    assert r.status_code == 200, r.text[:2000]
    assert '<pre id="output">' in r.text and 'id="charged"' in r.text
    after = (await services.ledger.balance(user_id)).balance
    async with services.db.read() as conn:
        cost = (await conn.execute(text("SELECT SUM(cost) FROM usage_events WHERE user_id = :u"),
                                   {"u": user_id})).scalar()
    assert cost > 0 and after == before - cost
    home = await client.get("/dashboard")
    assert "run_template" in home.text or "chat" in home.text
    assert home.text.count('class="bar"') == 30 and 'id="recent"' in home.text


async def test_a_value_outside_the_choices_is_refused_free(client: httpx.AsyncClient, services: Services):
    user_id, email = await make_person(services)
    await sign_in(client, email)
    before = (await services.ledger.balance(user_id)).balance
    r = await post_form(client, f"/dashboard/templates/{SUMMARIZE}/run", {"var_text": "x", "var_length": "huge"},
                        page=f"/dashboard/templates/{SUMMARIZE}")
    assert r.status_code == 400 and "<code>template_variable_type</code>" in r.text
    assert (await services.ledger.balance(user_id)).balance == before


async def test_the_owner_sees_analytics_and_others_do_not_see_a_private_template(app, client: httpx.AsyncClient,
                                                                                 services: Services):
    owner_id, owner_email = await make_person(services)
    _, other_email = await make_person(services)
    principal = await _principal(services, owner_id)
    created = await TemplateStore(services.db).create(principal, TemplateCreate(
        name="Mine", body="Say {{ word }}", variables=[{"name": "word"}]))
    await sign_in(client, owner_email)
    page = await client.get(f"/dashboard/templates/{created.id}")
    assert page.status_code == 200 and "Analytics" in page.text and "Version 1" in page.text
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as other:
        await sign_in(other, other_email)
        assert (await other.get(f"/dashboard/templates/{created.id}")).status_code == 404
        assert created.id not in (await other.get("/dashboard/templates")).text


async def _principal(services: Services, user_id: str):
    from smarthub_mcp.identity.principals import verify_jwt

    token = services.identity.codec.issue(user_id=user_id, role="user").token
    return (await verify_jwt(services, token))[0]


async def test_a_template_is_written_edited_and_restored_in_the_browser(client: httpx.AsyncClient,
                                                                        services: Services):
    _, email = await make_person(services)
    await sign_in(client, email)
    made = await post_form(client, "/dashboard/templates/new", {
        "name": "Greeting", "description": "Say hello", "visibility": "private", "body": "Greet {{ who }} warmly."})
    assert made.status_code == 303
    path = made.headers["location"]
    page = await client.get(path)
    assert page.status_code == 200 and '<textarea id="var_who" name="var_who"' in page.text  # from the body
    edited = await post_form(client, f"{path}/edit", {"name": "Greeting", "description": "Say hello",
                                                      "visibility": "private",
                                                      "body": "Greet {{ who }} in {{ language }}."})
    assert edited.status_code == 303
    page = await client.get(path)
    assert "Version 2" in page.text and 'name="var_language"' in page.text
    restored = await post_form(client, f"{path}/restore/1", {}, page=path)
    assert restored.status_code == 303
    page = await client.get(path)
    assert "Version 3" in page.text and "restored from 1" in page.text and 'name="var_language"' not in page.text
    bad = await post_form(client, "/dashboard/templates/new", {"name": "", "description": "", "visibility": "",
                                                               "body": "x"}, page="/dashboard/templates/new")
    assert bad.status_code == 400 and "name" in bad.text


async def test_a_starter_template_cannot_be_edited(client: httpx.AsyncClient, services: Services):
    _, email = await make_person(services)
    await sign_in(client, email)
    r = await client.get(f"/dashboard/templates/{SUMMARIZE}/edit")
    assert r.status_code == 403 and "template_not_editable" in r.text
    r = await post_form(client, f"/dashboard/templates/{SUMMARIZE}/edit", {"name": "Mine now", "description": "",
                                                                          "visibility": "public", "body": "x"},
                        page=f"/dashboard/templates/{SUMMARIZE}")
    assert r.status_code == 403
