"""The moderation queue in the admin dashboard, on both databases: held outputs with their previews,
approve (charged once) and reject (refunded) through the page's forms, the CSV report, and a user
refused the page."""

from __future__ import annotations

import csv
import io
import re

import httpx

from smarthub_mcp.services import Services
from smarthub_mcp.tools import images as image_tools
from smarthub_mcp.tools.registry import invoke
from tests.dashboard.helpers import make_person, post_form, sign_in
from tests.jobs.conftest import customer

PRICE = 10_000
PAGE = "/dashboard/admin/moderation"


async def held_outputs(services: Services):
    """A customer whose 4-image job had 2 images flagged by the (demo) provider."""
    alice = await customer(services)
    await invoke(image_tools.generate_image, services, alice,
                 {"prompt": "[flag] a fox", "model": "demo-image", "count": 4}, request_id="t")
    return alice


async def test_an_admin_approves_and_rejects_held_outputs(client: httpx.AsyncClient, services: Services):
    alice = await held_outputs(services)
    before = await services.ledger.balance(alice.user_id)
    assert before.held == 2 * PRICE
    _, email = await make_person(services, role="admin")
    await sign_in(client, email)
    shown = await client.get(PAGE)
    assert shown.status_code == 200
    review_ids = re.findall(r'action="/dashboard/admin/moderation/(rev_[0-9a-z]{26})"', shown.text)
    assert len(review_ids) == 2 and shown.text.count('<img src="http') == 2
    origin = re.search(r'<img src="(https?://[^/"]+)/', shown.text)[1]
    assert f"img-src 'self' {origin}" in shown.headers["content-security-policy"]  # the previews may load

    approve = await post_form(client, f"{PAGE}/{review_ids[0]}", {"decision": "approve", "reason": "fine"},
                              page=PAGE)
    assert approve.status_code == 200 and "approved." in approve.text
    reject = await post_form(client, f"{PAGE}/{review_ids[1]}", {"decision": "reject", "reason": "not here"},
                             page=PAGE)
    assert reject.status_code == 200 and "rejected." in reject.text and "Nothing waits for review." in reject.text
    again = await post_form(client, f"{PAGE}/{review_ids[0]}", {"decision": "reject", "reason": "changed my mind"},
                            page=PAGE)
    assert again.status_code == 409 and "conflict" in again.text
    after = await services.ledger.balance(alice.user_id)
    assert (after.balance, after.held) == (before.balance - PRICE, 0)
    assert await services.ledger.check() == []

    report = await client.get(f"{PAGE}/report.csv")
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(report.text)))
    counts = {r["decision"]: int(r["count"]) for r in rows}
    assert counts == {"held": 2, "approved": 1, "rejected": 1}


async def test_a_user_is_refused_the_moderation_pages(client: httpx.AsyncClient, services: Services):
    await held_outputs(services)
    _, email = await make_person(services)
    await sign_in(client, email)
    for path in (PAGE, f"{PAGE}/report.csv"):
        assert (await client.get(path)).status_code == 403
    refused = await client.post(f"{PAGE}/rev_00000000000000000000000000",
                                data={"decision": "approve", "reason": "mine"})
    assert refused.status_code in (403, 400)  # no CSRF token from an admin page to send
