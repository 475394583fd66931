"""A schema-driven fuzz of the whole HTTP API: schemathesis generates requests from the OpenAPI
document for every operation (valid and invalid ones) and sends them to the real app on a loopback
port, as a user with a real API key (an admin on the admin's routes). It fails on any 5xx, on a
status the operation does not document, on a wrong content type, and on a body that does not match
the documented schema. Bounded: a fixed number of examples per operation, deterministic, no
shrinking (a failure is reported as found), so CI knows what it pays; SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from smarthub_mcp.api.openapi import api_document
from tests.api.fuzz_server import ThreadedServer, pg_url_with_schema
from tests.conftest import PG_URL, REQUIRE_PG

EXAMPLES_PER_OPERATION = 40
ADMIN_ROUTES = re.compile(r"^/api/v1/(admin/|promo/codes)")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

schema = schemathesis.openapi.from_dict(api_document("http://127.0.0.1"))
schema.config.generation.update(modes=["positive", "negative"], max_examples=EXAMPLES_PER_OPERATION,
                                deterministic=True, no_shrink=True, allow_x00=True,
                                with_security_parameters=False)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzz_server(request, tmp_path_factory, pg_database_url) -> Iterator[ThreadedServer]:
    workdir = tmp_path_factory.mktemp("fuzz")
    if request.param == "sqlite":
        with ThreadedServer(f"sqlite+aiosqlite:///{workdir / 'fuzz.db'}", workdir) as server:
            yield server
        return
    if pg_database_url is None:
        if REQUIRE_PG:
            pytest.fail("PostgreSQL is required (SMARTHUB_TEST_REQUIRE_PG=1)")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}")
    url, pg_schema = pg_url_with_schema(pg_database_url)
    with ThreadedServer(url, workdir, pg_schema=pg_schema) as server:
        yield server


@schema.parametrize()
@settings(deadline=None, database=None, derandomize=True, max_examples=EXAMPLES_PER_OPERATION,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
def test_fuzz_the_http_api(case, fuzz_server: ThreadedServer) -> None:
    key = fuzz_server.admin_key if ADMIN_ROUTES.match(case.path) else fuzz_server.user_key
    headers = {"Authorization": f"Bearer {key}"}
    response = case.call(base_url=fuzz_server.url, headers=headers, timeout=15)
    case.validate_response(response, checks=CHECKS)

