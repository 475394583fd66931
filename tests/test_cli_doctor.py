"""`smarthub doctor` in process (tests/clirunner.py), on SQLite and PostgreSQL: a healthy deployment
(real Redis, an SMTP sink, the fake Stripe and a fake OpenAI provider on loopback) passes with exit 0;
each broken part is named with its fix and makes the exit code 1."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from tests.billing.conftest import PACKAGES_TOML, STRIPE_KEY, WEBHOOK_SECRET
from tests.clirunner import acli
from tests.conftest import base_env, free_port
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.stripe_api import FakeStripe
from tests.identity.helpers import Sink

REDIS_URL = os.environ.get("SMARTHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
OPENAI_KEY = "sk-doctor-fake-key-123"
PROVIDER_TOML = """
[providers.oai]
type = "openai"
base_url = "{url}/v1"
api_key_env = "DOCTOR_OPENAI_KEY"

[providers.demo]
type = "demo"

[models.smart]
kind = "chat"
routes = [{{ provider = "oai", upstream = "gpt-fake" }}]

[models.demo-chat]
kind = "chat"
routes = [{{ provider = "demo", upstream = "demo-chat-1" }}]
"""


def findings(stdout: str, status: str) -> dict[str, list[str]]:
    """{part: [message, ...]} of the lines with `status` (ok, warn, FAIL)."""
    found: dict[str, list[str]] = {}
    for match in re.finditer(rf"^{status}\s+([^:]+): (.*)$", stdout, re.M):
        found.setdefault(match.group(1), []).append(match.group(2))
    return found


@pytest.fixture
async def smtp_port():
    controller = Controller(Sink(), hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


@pytest.fixture
async def fakes():
    async with FakeStripe(api_key=STRIPE_KEY) as stripe, FakeOpenAI(api_key=OPENAI_KEY) as openai:
        yield stripe, openai


def healthy_env(database_url: str, tmp_path: Path, stripe: FakeStripe, openai: FakeOpenAI, smtp_port: int,
                **extra: str) -> dict[str, str]:
    config = tmp_path / "config.toml"
    config.write_text(PACKAGES_TOML + PROVIDER_TOML.format(url=openai.url), encoding="utf-8")
    (tmp_path / "media").mkdir(exist_ok=True)
    values = dict(
        SMARTHUB_CONFIG=str(config),
        SMARTHUB_REDIS_URL=REDIS_URL,
        SMARTHUB_SMTP_HOST="127.0.0.1",
        SMARTHUB_SMTP_PORT=str(smtp_port),
        SMARTHUB_SERVER__PUBLIC_BASE_URL="https://hub.example.com",
        SMARTHUB_STORAGE__DIRECTORY=str(tmp_path / "media"),
        SMARTHUB_DATABASE__POOL_SIZE="4",
        STRIPE_API_KEY=STRIPE_KEY,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        SMARTHUB_PAYMENTS__STRIPE_API_BASE=stripe.url,
        DOCTOR_OPENAI_KEY=OPENAI_KEY,
    )
    return base_env(database_url, **{**values, **extra})


async def test_a_healthy_deployment_passes(db, database_url, tmp_path, fakes, smtp_port):
    stripe, openai = fakes
    env = healthy_env(database_url, tmp_path, stripe, openai, smtp_port)
    ran = await acli("doctor", "--online", "--replicas", "2", env=env)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert findings(ran.stdout, "FAIL") == {} and findings(ran.stdout, "warn") == {}, ran.stdout
    ok = findings(ran.stdout, "ok")
    assert "schema up to date" in ok["database"]
    assert ok["redis"] == ["answers"] and ok["smtp"][0].startswith("127.0.0.1:")
    assert ok["stripe"] == ["Stripe accepts STRIPE_API_KEY; webhook secret present"]
    assert ok["provider oai"] == ["openai: the provider accepts the key"]
    assert ok["storage"] == [f"local: {tmp_path / 'media'} is writable"]
    assert [r["body"] for r in openai.requests] == [], "listing models is the only call: no paid completion"
    if "postgresql" in database_url:
        assert any("2 replica(s) x 2 pools x pool_size 4" in m for m in ok["database"]), ok
    assert "0 problem(s), 0 warning(s)" in ran.stdout
    assert OPENAI_KEY not in ran.stdout and STRIPE_KEY not in ran.stdout and WEBHOOK_SECRET not in ran.stdout


async def test_offline_the_keys_are_only_looked_at(db, database_url, tmp_path, fakes, smtp_port):
    stripe, openai = fakes
    env = healthy_env(database_url, tmp_path, stripe, openai, smtp_port, DOCTOR_OPENAI_KEY="sk-wrong-but-unchecked")
    ran = await acli("doctor", env=env)
    assert ran.returncode == 0, ran.stdout
    assert findings(ran.stdout, "ok")["provider oai"] == ["openai: key present (not called; --online to call it)"]
    assert openai.requests == [] and stripe.requests == []


async def test_every_broken_part_is_named_with_its_fix(db, database_url, tmp_path, fakes):
    stripe, openai = fakes
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the media directory should be")
    env = healthy_env(
        database_url, tmp_path, stripe, openai, free_port(),  # nothing listens on the SMTP port
        SMARTHUB_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        SMARTHUB_STORAGE__DIRECTORY=str(blocked / "media"),
        STRIPE_WEBHOOK_SECRET="",
        DOCTOR_OPENAI_KEY="",
    )
    ran = await acli("doctor", env=env)
    assert ran.returncode == 1, ran.stdout
    failed = findings(ran.stdout, "FAIL")
    assert set(failed) == {"redis", "smtp", "stripe", "storage", "provider oai"}, ran.stdout
    assert "DOCTOR_OPENAI_KEY is not set" in failed["provider oai"][0]
    assert "STRIPE_WEBHOOK_SECRET is not set" in failed["stripe"][0]
    fixes = re.findall(r"^      fix: (.*)$", ran.stdout, re.M)
    assert len(fixes) == sum(len(messages) for messages in failed.values()), "every problem comes with its fix"
    assert any("export DOCTOR_OPENAI_KEY=" in fix for fix in fixes)
    assert "Traceback" not in ran.stdout + ran.stderr


async def test_wrong_keys_are_refused_online(db, database_url, tmp_path, fakes, smtp_port):
    stripe, openai = fakes
    env = healthy_env(database_url, tmp_path, stripe, openai, smtp_port, DOCTOR_OPENAI_KEY="sk-revoked",
                      STRIPE_API_KEY="sk_test_revoked")
    ran = await acli("doctor", "--online", env=env)
    assert ran.returncode == 1
    failed = findings(ran.stdout, "FAIL")
    assert failed["provider oai"] == ["openai: the provider refused the key (HTTP 401)"]
    assert failed["stripe"] == ["Stripe refused STRIPE_API_KEY"]
    assert "sk-revoked" not in ran.stdout and "sk_test_revoked" not in ran.stdout


async def test_unreachable_and_unmigrated_databases(database_url, tmp_path):
    if "postgresql" in database_url:
        ran = await acli("doctor", env=base_env(database_url))  # an empty schema: nothing applied
        assert ran.returncode == 1
        assert "schema behind: 0001_schema" in findings(ran.stdout, "FAIL")["database"][0]
        assert "run `smarthub db upgrade` once" in ran.stdout
        url = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    else:
        url = f"sqlite+aiosqlite:///{tmp_path}/smarthub.db"
        ran = await acli("doctor", env=base_env(url))
        assert ran.returncode == 0  # serve creates it: a warning, not a failure
        assert findings(ran.stdout, "warn")["database"] == [f"no database at {tmp_path}/smarthub.db yet"]
        assert not (tmp_path / "smarthub.db").exists(), "doctor creates nothing"
        url = f"sqlite+aiosqlite:///{tmp_path}/missing-dir/smarthub.db"
    ran = await acli("doctor", env=base_env(url))
    assert ran.returncode == 1, ran.stdout
    assert "database" in findings(ran.stdout, "FAIL"), ran.stdout


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_connection_budget_against_max_connections(db, database_url):
    ran = await acli("doctor", "--replicas", "40", env=base_env(database_url, SMARTHUB_DATABASE__POOL_SIZE="16"))
    assert ran.returncode == 1
    budget = next(m for m in findings(ran.stdout, "FAIL")["database"] if "replica(s)" in m)
    assert budget.startswith("40 replica(s) x 2 pools x pool_size 16 + 4 for the CLI = 1284 connections")
    fix = re.search(r"SMARTHUB_DATABASE__POOL_SIZE=(\d+)", ran.stdout)
    assert fix is not None
    ran = await acli("doctor", "--replicas", "40", env=base_env(database_url, SMARTHUB_DATABASE__POOL_SIZE=fix[1]))
    assert ran.returncode == 0, ran.stdout


async def test_a_bad_setting_is_one_failure(tmp_path):
    ran = await acli("doctor", env={"SMARTHUB_SERVER__PORT": "not-a-port"})
    assert ran.returncode == 1
    assert ran.stdout.startswith("FAIL  config: invalid configuration in the environment: server.port")
    assert "Traceback" not in ran.stderr


async def test_an_unreachable_bucket(tmp_path):
    endpoint = f"http://127.0.0.1:{free_port()}"
    env = {"SMARTHUB_STORAGE__BACKEND": "s3", "SMARTHUB_STORAGE__BUCKET": "media",
           "SMARTHUB_STORAGE__ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "doctor", "AWS_SECRET_ACCESS_KEY": "x" * 20}
    ran = await acli("doctor", env=env)
    assert ran.returncode == 1
    assert findings(ran.stdout, "FAIL")["storage"] == [f"s3: {endpoint} unreachable: EndpointConnectionError"]


async def test_a_reachable_bucket_and_a_missing_one(tmp_path):
    import boto3
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        keys = {"AWS_ACCESS_KEY_ID": "doctor", "AWS_SECRET_ACCESS_KEY": "x" * 20}
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="doctor",
                     aws_secret_access_key="x" * 20).create_bucket(Bucket="media")
        env = {"SMARTHUB_STORAGE__BACKEND": "s3", "SMARTHUB_STORAGE__ENDPOINT_URL": endpoint,
               "SMARTHUB_STORAGE__REGION": "us-east-1", "SMARTHUB_STORAGE__ADDRESSING_STYLE": "path", **keys}
        ran = await acli("doctor", env={**env, "SMARTHUB_STORAGE__BUCKET": "media"})
        assert findings(ran.stdout, "ok")["storage"] == ["s3: bucket media reachable"], ran.stdout
        ran = await acli("doctor", env={**env, "SMARTHUB_STORAGE__BUCKET": "nowhere"})
        assert ran.returncode == 1
        assert findings(ran.stdout, "FAIL")["storage"][0].startswith("s3: bucket nowhere refused: "), ran.stdout
    finally:
        server.stop()
