"""The main journeys in headless Chromium (Debian's, through Playwright), each page checked by
axe-core and for console errors (tests/dashboard/browser.py), on both databases.

Screenshots go to docs/images/dashboard-*.png when SMARTHUB_TEST_SCREENSHOTS=1 (the README shows some).
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from smarthub_mcp.billing import promo_admin
from smarthub_mcp.credits import MICRO
from tests.billing.conftest import signed
from tests.dashboard.browser import Watched
from tests.dashboard.helpers import PASSWORD, make_person
from tests.dashboard.test_admin_moderation import held_outputs
from tests.fakes.stripe_api import event
from tests.identity.helpers import token_in
from tests.oauth.browser import browser_page

WIDE = {"width": 1200, "height": 900}


async def signed_in(site: Any, page: Any, email: str) -> Watched:
    watched = await Watched(page, site.url).start()
    await watched.goto("/dashboard")  # the guard sends the browser to the sign-in page
    assert "/dashboard/signin" in page.url
    await watched.check()
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await watched.submit("button[type=submit]")
    assert page.url == f"{site.url}/dashboard"
    return watched


async def test_sign_up_verify_key_promo_template_and_the_charge_on_the_dashboard(site: Any):
    services = site.services
    await promo_admin.create_code(services, promo_admin.PromoCreate(code="HELLO10", credits=10), actor_id=None)
    async with browser_page(**WIDE) as page:
        w = await Watched(page, site.url).start()
        await w.goto("/dashboard/signup")
        await w.check()
        await page.fill("#email", "ada@example.com")
        await page.fill("#password", "a long enough password")
        await w.submit("button[type=submit]")
        assert page.url.endswith("/dashboard?welcome=1")
        assert await page.inner_text("#balance") == "1 credits"
        # The verification email, through the SMTP sink, opens the confirmation page.
        message = await site.sink.next()
        await w.goto(f"/verify-email?token={token_in(message)}")
        await w.submit("button[type=submit]")
        assert "is confirmed" in await page.inner_text("main")
        # An API key with its client configurations.
        await w.goto("/dashboard/keys")
        await page.fill("#key-name", "laptop")
        await w.submit("form[action='/dashboard/keys'] button[type=submit]")
        key = (await page.inner_text("#new-key")).strip()
        assert key.startswith("shk_") and key in await page.inner_text("#cfg-cursor")
        await w.check()
        await w.goto("/dashboard/keys")
        await w.check()
        # Revoking asks first (app.js); the watcher accepts, and the key stops working.
        await w.submit("#keys button.danger")
        assert "revoked" in await page.inner_text("[role=status]")
        async with httpx.AsyncClient(base_url=site.url, headers={"Authorization": f"Bearer {key}"}) as http:
            assert (await http.get("/api/v1/credits/balance")).status_code == 401
        # A promo code.
        await w.goto("/dashboard/credits")
        await page.fill("#promo-code", "HELLO10")
        await w.submit("form[action='/dashboard/credits/redeem'] button")
        assert "Code HELLO10 redeemed" in await page.inner_text("[role=status]")
        assert await page.inner_text("#balance") == "11 credits"
        await w.check()
        # A template run, charged.
        await w.goto("/dashboard/templates")
        await w.check()
        await w.goto("/dashboard/templates/new")
        await w.check()
        await w.goto("/dashboard/templates/tpl_starter_summarize")
        await page.fill("#var_text", "The launch moved to Tuesday; Grace owns the checklist.")
        await page.select_option("#var_length", "one sentence")
        await w.submit("form[action$='/run'] button[type=submit]")
        assert await page.inner_text("#output")
        await w.check("template-run")
        # The charge, on the dashboard and in today's bar of the chart.
        await w.goto("/dashboard")
        assert "run_template" in await page.inner_text("#recent")
        today = float(await page.locator("svg rect.bar").last.get_attribute("height") or 0)
        assert today > 0
        balance = await services.ledger.balance(await _user_id(services, "ada@example.com"))
        assert balance.balance < 11 * MICRO
        await w.check("home")
    # Dark mode: the same dashboard, checked for contrast by axe.
    _, email = await make_person(services)
    async with browser_page(**WIDE, color_scheme="dark") as page:
        w = await signed_in(site, page, email)
        await w.check("home-dark")


async def test_buying_credits_through_stripe_checkout_and_the_signed_webhook(site: Any):
    user_id, email = await make_person(site.services)
    async with browser_page() as page:  # phone-sized
        w = await signed_in(site, page, email)
        await w.goto("/dashboard/credits")
        await w.check()
        # The form leads, through our redirect, to Stripe's hosted page. That page is outside the
        # test's network: a stand-in answers for it, so the browser lands somewhere settled (a
        # failed navigation's error page could otherwise cut into the next one).
        await page.route("https://checkout.stripe.com/**",
                         lambda route: route.fulfill(content_type="text/html", body="<title>Checkout</title>"))
        async with page.expect_request(lambda r: r.url.startswith("https://checkout.stripe.com/")) as asked:
            await page.click("button[aria-label^='Buy 100 credits']")
        await page.wait_for_url("https://checkout.stripe.com/**")
        sid = re.search(r"/c/pay/(cs_test_\w+)", (await asked.value).url).group(1)
        # Stripe confirms the payment with a signed webhook; only that credits the account.
        payload = event("checkout.session.completed", site.stripe.complete(sid))
        async with httpx.AsyncClient(base_url=site.url) as http:
            r = await http.post("/api/v1/payments/stripe/webhook", content=payload.encode(), headers=signed(payload))
        assert r.status_code == 200 and r.json()["outcome"] == "credited"
        await w.goto("/dashboard/credits")
        assert await page.inner_text("#balance") == "101 credits"
        assert "paid" in await page.inner_text("#purchases")
        await w.check()
        await w.goto("/dashboard/account")
        await w.check()
    assert (await site.services.ledger.balance(user_id)).balance == 101 * MICRO


async def test_an_admin_adjusts_credits_and_sees_the_audit_entry(site: Any):
    _, admin_email = await make_person(site.services, role="admin")
    user_id, email = await make_person(site.services)
    await held_outputs(site.services)  # two images held for review, for the moderation page
    async with browser_page(**WIDE) as page:
        w = await signed_in(site, page, admin_email)
        await w.goto("/dashboard/admin")
        await w.check()
        await w.goto(f"/dashboard/admin/users?q={email}")
        await page.fill(f"#amount-{user_id}", "25")
        await page.fill(f"#reason-{user_id}", "goodwill after outage")
        await w.submit(f"form[action$='{user_id}/adjust'] button")
        assert "Adjusted by 25 credits" in await page.inner_text("[role=status]")
        await w.check()
        await w.goto("/dashboard/admin/audit")
        assert "goodwill after outage" in await page.inner_text("#audit")
        await w.check()
        await w.goto("/dashboard/admin/report")
        await w.check("admin-report")
        for path in ("promo", "payments", "jobs", "providers", "metrics"):
            await w.goto(f"/dashboard/admin/{path}")
            await w.check()
        await w.goto("/dashboard/admin/moderation")
        assert await page.locator("#held img").count() == 2
        await w.check("admin-moderation")
        await page.fill("#held form input[name=reason] >> nth=0", "a fox, harmless")
        await w.submit("#held form button[value=approve] >> nth=0")
        assert "approved." in await page.inner_text("[role=status]")
        assert await page.locator("#held img").count() == 1
        await w.check()
    assert (await site.services.ledger.balance(user_id)).balance == 26 * MICRO


async def test_a_user_cannot_open_an_admin_page(site: Any):
    _, email = await make_person(site.services)
    async with browser_page() as page:
        w = await signed_in(site, page, email)
        response = await w.goto("/dashboard/admin/users")
        assert response.status == 403
        assert "forbidden" in await page.inner_text("main")
        assert await page.locator("a[href='/dashboard/admin']").count() == 0


async def _user_id(services: Any, email: str) -> str:
    from smarthub_mcp.identity.users import user_by_email

    return (await user_by_email(services, email)).id


async def test_media_gallery_jobs_with_live_progress_and_apps(site: Any):
    services = site.services
    user_id, email = await make_person(services)
    token = services.identity.codec.issue(user_id=user_id, role="user").token
    services.settings.jobs.http_wait_seconds = 0  # the API answers at once; the job runs on
    async with browser_page(**WIDE) as page:
        w = await signed_in(site, page, email)
        async with httpx.AsyncClient(base_url=site.url, headers={"Authorization": f"Bearer {token}"}) as http:
            made = await http.post("/api/v1/images", json={"prompt": "a slow tide", "model": "demo-image-slow"})
        assert made.status_code == 200, made.text
        await w.goto("/dashboard/jobs")
        status = page.locator(f"#job-{made.json()['job_id']} [data-status]")
        assert await status.inner_text() in ("queued", "submitting", "running")
        assert await page.locator("progress").count() == 1
        # app.js polls the job's JSON and updates the row in place until the job ends.
        await status.filter(has_text="succeeded").wait_for(timeout=30_000)
        await w.check()
        await w.goto("/dashboard/media")
        assert await page.locator("#gallery img[alt='a slow tide']").count() == 1
        await w.check()
        await w.goto("/dashboard/apps")
        await w.check()
