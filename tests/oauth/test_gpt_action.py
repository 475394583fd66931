"""A Custom GPT action's sign-in, as ChatGPT runs it, in a real browser: an admin's confidential
client, no PKCE, the person signs in (the page offers Google too) and consents, ChatGPT redeems
the code with its secret by Basic and calls a tool through the facade, metered to that person."""

from __future__ import annotations

import base64
import secrets
from urllib.parse import urlencode

import httpx2

from tests.fakes.google_oidc import FakeGoogle
from tests.oauth.browser import browser_page
from tests.oauth.flow import Person, smarthub
from tests.oauth.helpers import make_person

CALLBACK = "https://chat.openai.com/aip/g-0123456789abcdef/oauth/callback"


async def test_a_gpt_action_signs_a_person_in_and_calls_a_metered_tool(make_config, db):
    from smarthub_mcp.oauth.admin import create_confidential_client

    async with FakeGoogle() as google, smarthub(make_config, **google.env()) as (services, server):
        async with services.db.write() as conn:
            made = await create_confidential_client(conn, "Research GPT", [CALLBACK], "chat account", None)
        user_id, email = await make_person(services)
        before = (await services.ledger.balance(user_id)).balance
        state = secrets.token_urlsafe(8)
        url = f"{server.url}/authorize?" + urlencode({"response_type": "code", "client_id": made.client_id,
                                                       "redirect_uri": CALLBACK, "scope": "chat account",
                                                       "state": state})
        async with browser_page() as page:
            person = Person(page, email, CALLBACK, shots="oauth-gpt")
            await person.redirect_handler(url)
            result = await person.callback_handler()
        assert result.state == state and result.iss == f"{server.url}/"
        assert "Sign in with Google" in person.sign_in_text
        assert "chat.openai.com" in person.consent_text and "Research GPT" in person.consent_text
        basic = base64.b64encode(f"{made.client_id}:{made.client_secret}".encode()).decode()
        async with httpx2.AsyncClient(base_url=server.url, timeout=30) as http:
            tokens = await http.post("/token", headers={"Authorization": f"Basic {basic}"},
                                     data={"grant_type": "authorization_code", "code": result.code,
                                           "redirect_uri": CALLBACK})
            assert tokens.status_code == 200, tokens.text
            called = await http.post("/api/v1/tools/chat", json={"prompt": "Hello from a GPT", "max_tokens": 16},
                                     headers={"Authorization": f"Bearer {tokens.json()['access_token']}"})
            assert called.status_code == 200, called.text
        assert (await services.ledger.balance(user_id)).balance < before
