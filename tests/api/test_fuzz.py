"""A schema-driven fuzz of the whole HTTP API: schemathesis generates requests from the OpenAPI
document for every operation (valid and invalid ones) and sends them to the real app on a loopback
port, as a user with a real API key (an admin on the admin's routes). It fails on any 5xx, on a
status the operation does not document, on a wrong content type, and on a body that does not match
the documented schema. Bounded: a fixed number of examples per operation, deterministic, no
shrinking (a failure is reported as found), so CI knows what it pays. Each generated request goes to
two servers, one on SQLite and one on PostgreSQL, which see the same requests in the same order:
generating costs more than serving, so the examples are generated once for both databases."""

from __future__ import annotations

import contextlib
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
from tests.conftest import REQUIRE_PG

EXAMPLES_PER_OPERATION = 40
ADMIN_ROUTES = re.compile(r"^/api/v1/(admin/|promo/codes)")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

schema = schemathesis.openapi.from_dict(api_document("http://127.0.0.1"))
schema.config.generation.update(modes=["positive", "negative"], max_examples=EXAMPLES_PER_OPERATION,
                                deterministic=True, no_shrink=True, allow_x00=True,
                                with_security_parameters=False)


@pytest.fixture(scope="module")
def fuzz_servers(tmp_path_factory, pg_database_url) -> Iterator[list[tuple[str, ThreadedServer]]]:
    workdir = tmp_path_factory.mktemp("fuzz")
    with contextlib.ExitStack() as stack:
        servers = [("sqlite", stack.enter_context(ThreadedServer(f"sqlite+aiosqlite:///{workdir / 'fuzz.db'}",
                                                                 workdir)))]
        if pg_database_url is not None:
            url, pg_schema = pg_url_with_schema(pg_database_url)
            servers.append(("postgresql", stack.enter_context(ThreadedServer(url, workdir, pg_schema=pg_schema))))
        elif REQUIRE_PG:
            pytest.fail("PostgreSQL is required (SMARTHUB_TEST_REQUIRE_PG=1)")
        yield servers


@schema.parametrize()
@settings(deadline=None, database=None, derandomize=True, max_examples=EXAMPLES_PER_OPERATION,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
def test_fuzz_the_http_api(case, fuzz_servers: list[tuple[str, ThreadedServer]]) -> None:
    for backend, server in fuzz_servers:
        key = server.admin_key if ADMIN_ROUTES.match(case.path) else server.user_key
        try:
            response = case.call(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=15)
            case.validate_response(response, checks=CHECKS)
        except BaseException as exc:
            exc.add_note(f"(the server on {backend})")
            raise
