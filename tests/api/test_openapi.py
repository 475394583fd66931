"""The OpenAPI document of the whole HTTP API: valid OpenAPI 3.1, one operation for every route the
app serves under /api/v1 (and no operation without a route), the error envelope's codes, security;
and the tool facade's own document, which Custom GPT actions import, at its old URL."""

from __future__ import annotations

import re
from typing import Any

import pytest
from openapi_spec_validator import validate
from starlette.routing import Match, Mount, Route

from smarthub_mcp.api.openapi import api_document
from smarthub_mcp.api.openapi.tools_doc import DESCRIPTION_LIMIT, ELLIPSIS, shorten
from smarthub_mcp.tools.catalog import all_tools

METHODS = ("get", "post", "put", "patch", "delete")


def routes_under(entries: list[Any], prefix: str = "") -> list[tuple[str, str]]:
    """(method, full path template) of every plain route, through mounts."""
    found = []
    for entry in entries:
        if isinstance(entry, Mount):
            found += routes_under(entry.routes, prefix + entry.path)
        elif isinstance(entry, Route):
            found += [(m, prefix + entry.path) for m in sorted(entry.methods - {"HEAD"})]
    return found


def dispatched(entries: list[Any], scope: dict[str, Any], prefix: str = "") -> tuple[str, str] | None:
    """The (method, template) of the route Starlette sends `scope` to, or None."""
    for entry in entries:
        match, child = entry.matches(scope)
        if isinstance(entry, Mount) and match == Match.FULL:
            found = dispatched(entry.routes, {**scope, **child}, prefix + entry.path)
            if found:
                return found
        elif isinstance(entry, Route) and match == Match.FULL:
            return scope["method"], prefix + entry.path
    return None


def operations(document: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m.upper(), p) for p, item in document["paths"].items() for m in item if m in METHODS]


async def test_the_document_is_valid_openapi_3_1(client):
    response = await client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    document = response.json()
    assert document["openapi"].startswith("3.1")
    validate(document)
    assert document["servers"][0]["url"].startswith("http")


async def test_every_route_has_an_operation_and_every_operation_a_route(app, client):
    """Fails when a route is added to /api/v1 without its operation (or an operation is left behind)."""
    document = (await client.get("/api/v1/openapi.json")).json()
    reached = set()
    for method, path in operations(document):
        concrete = re.sub(r"\{[^}]+\}", "x1", path)
        route = dispatched(app.routes, {"type": "http", "method": method, "path": concrete, "root_path": ""})
        assert route is not None, f"{method} {path} is documented but no route serves it"
        reached.add(route)
        if "{" not in route[1]:
            assert route == (method, path), (method, path, route)  # not swallowed by a broader route
    api = {(m, p) for m, p in routes_under(app.routes) if p.startswith("/api/v1/")}
    assert len(api) > 50
    missing = sorted(api - reached)
    assert not missing, f"routes missing from the OpenAPI document: {missing}"


def test_operations_are_described_and_unique():
    document = api_document("http://127.0.0.1:8000")
    ids = [item[m]["operationId"] for item in document["paths"].values() for m in item if m in METHODS]
    assert len(ids) == len(set(ids))
    for path, item in document["paths"].items():
        for method, op in item.items():
            assert op["summary"] and op["tags"], (method, path)
            assert any(code.startswith("2") for code in op["responses"]), (method, path)
            for name in re.findall(r"\{([^}]+)\}", path):
                assert name in {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}, (path, name)


def test_errors_carry_the_envelope_and_their_stable_codes():
    document = api_document("http://127.0.0.1:8000")
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    assert error["properties"]["error"]["required"] == ["code", "message"]
    responses = document["components"]["responses"]
    assert "insufficient_credits" in responses["Error402"]["x-error-codes"]
    assert {"template_not_found", "promo_not_found", "not_found"} <= set(responses["Error404"]["x-error-codes"])
    assert {"invalid_request", "invalid_json", "weak_password"} <= set(responses["Error400"]["x-error-codes"])
    assert "Retry-After" in responses["Error429"]["headers"]
    chat = document["paths"]["/api/v1/tools/chat"]["post"]["responses"]
    assert chat["402"] == {"$ref": "#/components/responses/Error402"}


def test_security_schemes_and_public_operations():
    document = api_document("http://127.0.0.1:8000")
    schemes = document["components"]["securitySchemes"]
    assert schemes["apiKey"]["scheme"] == schemes["bearerJwt"]["scheme"] == "bearer"
    assert document["security"] == [{"apiKey": []}, {"bearerJwt": []}]
    paths = document["paths"]
    assert paths["/api/v1/auth/login"]["post"]["security"] == []
    assert paths["/api/v1/credits/packages"]["get"]["security"] == []
    assert "security" not in paths["/api/v1/credits/balance"]["get"]  # the document's default: a credential
    assert "401" in paths["/api/v1/credits/balance"]["get"]["responses"]


def test_request_bodies_are_the_models_the_routes_validate_with():
    schemas = api_document("http://127.0.0.1:8000")["components"]["schemas"]
    register = schemas["RegisterBody"]
    assert register["required"] == ["email", "password"] and register["additionalProperties"] is False
    assert schemas["TemplateCreate"]["properties"]["name"]["maxLength"] == 120
    credits = schemas["PromoCreate"]["properties"]["credits"]
    assert credits["anyOf"][0]["type"] == "string"  # credits as people write them, not micro-credits


async def test_the_tool_facade_keeps_its_own_document(client):
    response = await client.get("/api/v1/tools/openapi.json")
    assert response.status_code == 200
    document = response.json()
    validate(document)
    assert {item["post"]["operationId"] for item in document["paths"].values()} == set(all_tools())
    # A bearer key, or OAuth sign-in for a Custom GPT action (docs/oauth.md).
    assert list(document["components"]["securitySchemes"]) == ["bearerAuth", "oauth2"]
    for item in document["paths"].values():
        description = item["post"]["description"]
        assert 0 < len(description) <= DESCRIPTION_LIMIT
        assert description.endswith((".", "!", "?", ELLIPSIS)), description


@pytest.mark.parametrize("name", sorted(all_tools()))
def test_tool_descriptions_are_cut_at_a_sentence_or_a_word(name):
    full = " ".join(all_tools()[name].description.split())
    short = shorten(all_tools()[name].description)
    assert len(short) <= DESCRIPTION_LIMIT
    if short.endswith(ELLIPSIS):
        kept = short[: -len(ELLIPSIS)]
        assert full.startswith(kept) and full[len(kept)] == " ", short
    else:
        assert full.startswith(short) and (len(short) == len(full) or full[len(short)] == " "), short


def test_shorten():
    assert shorten("Short.") == "Short."
    assert shorten("One  two\nthree.") == "One two three."
    sentences = "First sentence here. " + "x" * 10 + " " + "word " * 80
    assert shorten(sentences, 36) == "First sentence here."  # a sentence end in the second half
    words = "alpha " * 100
    cut = shorten(words, 50)
    assert len(cut) <= 50 and cut.endswith(ELLIPSIS) and cut[:-1].split() == ["alpha"] * 8
    assert shorten("x" * 400, 50) == "x" * 49 + ELLIPSIS  # one endless word: cut it, nothing better
