"""Malformed JSON-RPC, wrong argument types, huge strings and unknown tools over real HTTP:
clean errors, never a 500, and the balance untouched."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smarthub_mcp.credits import MICRO
from smarthub_mcp.tls import client_tls
from tests.factories import bearer, make_user_with_token

HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def call(name: object, arguments: object, rid: int = 1) -> dict:
    return {"jsonrpc": "2.0", "id": rid, "method": "tools/call", "params": {"name": name, "arguments": arguments}}


BAD_BODIES = [
    b"{",
    b"null",
    b"[]",
    b'{"jsonrpc": "2.0"}',
    b'{"jsonrpc": "1.0", "id": 1, "method": "tools/list"}',
    b'{"jsonrpc": "2.0", "id": 1, "method": "no/such/method"}',
    json.dumps(call("chat", "not-an-object")).encode(),
    json.dumps(call(None, {})).encode(),
    json.dumps(call("chat", {"prompt": 42})).encode(),
    json.dumps(call("chat", {"prompt": "x", "max_tokens": -5})).encode(),
    json.dumps(call("chat", {"prompt": "y" * 600_000})).encode(),
    json.dumps(call("no_such_tool", {})).encode(),
    json.dumps(call("get_usage", {"limit": "many"})).encode(),
    b"\xff\xfe\x00garbage",
]


@pytest.mark.parametrize("body", BAD_BODIES)
async def test_malformed_requests_are_clean_errors(services, live_server, body):
    user_id, token = await make_user_with_token(services)
    async with httpx.AsyncClient(timeout=30, verify=client_tls()) as http:  # CA bundle read once
        response = await http.post(f"{live_server.url}/mcp", content=body, headers={**HEADERS, **bearer(token)})
    assert response.status_code < 500, response.text
    assert "Traceback" not in response.text
    balance = await services.ledger.balance(user_id)
    assert balance.balance == MICRO and balance.held == 0


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    arguments=st.dictionaries(
        st.sampled_from(["prompt", "model", "max_tokens", "messages", "temperature", "system", "extra"]),
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=50),
                  st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2)),
        max_size=5,
    )
)
async def test_random_chat_arguments_never_500(services, live_server, arguments):
    user_id, token = await _user(services)
    async with httpx.AsyncClient(timeout=30, verify=client_tls()) as http:  # CA bundle read once
        response = await http.post(
            f"{live_server.url}/mcp", content=json.dumps(call("chat", arguments)), headers={**HEADERS, **bearer(token)}
        )
    assert response.status_code < 500
    assert "Traceback" not in response.text
    balance = await services.ledger.balance(user_id)
    assert balance.held == 0
    assert balance.balance <= MICRO


_USERS: dict[int, tuple[str, str]] = {}


async def _user(services) -> tuple[str, str]:
    """One user per Services across hypothesis examples (the fixture is not re-run per example)."""
    key = id(services)
    if key not in _USERS:
        _USERS[key] = await make_user_with_token(services)
    return _USERS[key]
