"""generate_image over the fal and kie adapters against their loopback fakes, on both databases:
exact charges for what was delivered, one submit per job, and a lost submit answer kept held."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from smarthub_mcp.compose import build_services
from smarthub_mcp.config import AppConfig
from smarthub_mcp.errors import SmartHubError
from smarthub_mcp.jobs import store
from smarthub_mcp.jobs.errors import JobNotCancellable
from smarthub_mcp.media.local import LocalStorage
from smarthub_mcp.media.signing import UrlSigner
from smarthub_mcp.services import Services
from smarthub_mcp.tools import images as image_tools
from smarthub_mcp.tools import jobs as job_tools
from smarthub_mcp.tools.registry import invoke
from tests.fakes.fal_queue_server import FakeFal, FalJob
from tests.fakes.kie_server import FakeKie, KieTask
from tests.fakes.media_files import AcceptThenHang
from tests.jobs.conftest import customer

PRICE = 25_000  # 0.025 credits per image
TOML = """
[jobs]
poll_interval_seconds = 0.02

[providers.fal]
type = "fal"
api_key_env = "FAL_KEY"
base_url = "{fal}"
timeout_seconds = 1

[providers.kie]
type = "kie"
api_key_env = "KIE_API_KEY"
base_url = "{kie}"
timeout_seconds = 1

[models.flux]
kind = "image"
routes = [{{ provider = "fal", upstream = "fal-ai/flux/dev" }}]
price = {{ per_image = {{ "64x64" = 0.025 }} }}

[models.banana]
kind = "image"
routes = [{{ provider = "kie", upstream = "google/nano-banana" }}]
price = {{ per_image = {{ "64x64" = 0.025 }} }}
"""


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeFal, FakeKie]]:
    async with FakeFal() as fal, FakeKie() as kie:
        yield fal, kie


@pytest.fixture
async def services(make_config: Callable[..., AppConfig], db: object, tmp_path: Path,
                   fakes: tuple[FakeFal, FakeKie]) -> AsyncIterator[Services]:
    fal, kie = fakes
    config = make_config(toml=TOML.format(fal=fal.url, kie=kie.url), FAL_KEY=fal.api_key, KIE_API_KEY=kie.api_key)
    storage = LocalStorage(tmp_path / "media", signer=UrlSigner(lambda: b"k" * 32), public_base_url="http://testserver")
    services = build_services(config, storage=storage)
    yield services
    await services.router.aclose()


async def generate(services: Services, principal, **arguments):
    return await invoke(image_tools.generate_image, services, principal, arguments, request_id="test")


async def money(services: Services, user_id: str) -> tuple[int, int]:
    bal = await services.ledger.balance(user_id)
    return bal.balance, bal.held


async def test_fal_two_of_four_flagged_after_a_slow_job_charges_two(services, fakes) -> None:
    fal, _ = fakes
    fal.script(FalJob(in_queue=1, in_progress=3, flagged=(0, 2)))
    alice = await customer(services)
    before, _ = await money(services, alice.user_id)
    out = await generate(services, alice, prompt="a kite", model="flux", count=4)
    assert (out.status, out.delivered, out.flagged, out.held_for_review) == ("succeeded", 2, 2, 2)
    assert out.credits_charged == "0.050000"
    assert await money(services, alice.user_id) == (before - 2 * PRICE, 2 * PRICE)  # the held two, for review
    assert len(fal.submits) == 1
    assert all((m.width, m.height, m.content_type) == (64, 64, "image/png") for m in out.media)
    assert await services.ledger.check() == []


async def test_a_lost_fal_submit_answer_keeps_the_credits_held(services, fakes) -> None:
    fal, _ = fakes
    fal.script(AcceptThenHang())
    services.settings.jobs.wait_seconds = 0  # the submit step still runs in the call; no waiting after it
    alice = await customer(services)
    before, _ = await money(services, alice.user_id)
    out = await generate(services, alice, prompt="a kite", model="flux", count=2)
    assert out.status == "unknown" and out.credits_charged is None
    assert await money(services, alice.user_id) == (before, 2 * PRICE)  # held until reconciled
    assert len(fal.submits) == 1 and len(fal.jobs) == 1
    assert await services.ledger.check() == []


async def test_kie_delivers_what_its_task_made(services, fakes) -> None:
    _, kie = fakes
    kie.script(KieTask(waiting=1, generating=2, images=1))
    alice = await customer(services)
    before, _ = await money(services, alice.user_id)
    out = await generate(services, alice, prompt="a lighthouse", model="banana", count=2)
    assert (out.status, out.delivered) == ("succeeded", 1)
    assert await money(services, alice.user_id) == (before - PRICE, 0)
    assert kie.submits[0]["body"]["input"]["image_size"] == "1:1" and len(kie.submits) == 1
    assert await services.ledger.check() == []


async def test_a_task_kie_failed_costs_nothing(services, fakes) -> None:
    _, kie = fakes
    kie.script(KieTask(generating=1, fail_code="500"))
    alice = await customer(services)
    before, _ = await money(services, alice.user_id)
    with pytest.raises(SmartHubError) as info:
        await generate(services, alice, prompt="a lighthouse", model="banana")
    assert info.value.details["reason"] == "provider_error"
    assert await money(services, alice.user_id) == (before, 0)
    assert await services.ledger.check() == []


async def test_a_queued_fal_job_is_cancelled_upstream_and_costs_nothing(services, fakes) -> None:
    fal, _ = fakes
    fal.script(FalJob(in_queue=50))
    services.settings.jobs.wait_seconds = 0
    alice = await customer(services)
    before, _ = await money(services, alice.user_id)
    out = await generate(services, alice, prompt="a kite", model="flux")
    assert out.status == "running"
    cancelled = await invoke(job_tools.cancel_job, services, alice, {"job_id": out.job_id}, request_id="test")
    assert (cancelled.status, cancelled.credits_charged) == ("cancelled", "0.000000")
    assert await money(services, alice.user_id) == (before, 0)
    (rid,) = fal.jobs
    assert fal.jobs[rid]["cancelled"] and len(fal.submits) == 1
    assert await services.ledger.check() == []


async def test_a_running_fal_job_is_not_cancellable_and_is_charged_what_it_delivers(services, fakes) -> None:
    fal, _ = fakes
    fal.script(FalJob(in_progress=3))
    services.settings.jobs.wait_seconds = 0
    alice = await customer(services)
    before, _ = await money(services, alice.user_id)
    out = await generate(services, alice, prompt="a kite", model="flux")
    with pytest.raises(JobNotCancellable):
        await invoke(job_tools.cancel_job, services, alice, {"job_id": out.job_id}, request_id="test")
    job = await store.get(services.db, out.job_id)
    assert job is not None
    finished = await services.jobs.wait(job, 30)
    assert (finished.status, finished.delivered) == ("succeeded", 1)
    assert await money(services, alice.user_id) == (before - PRICE, 0)
    assert await services.ledger.check() == []


async def test_outputs_on_a_private_address_are_not_fetched_and_not_charged(services, fakes) -> None:
    """Without `[jobs] fetch_allow_private`, a provider's output links to loopback (here: the fake's
    own files) are refused before any request: nothing is delivered and nothing charged."""
    fal, _ = fakes
    services.settings.jobs.fetch_allow_private = False
    fal.script(FalJob())
    alice = await customer(services)
    before, _ = await money(services, alice.user_id)
    with pytest.raises(SmartHubError, match="delivered nothing usable") as failed:
        await generate(services, alice, prompt="a kite", model="flux", count=2)
    assert failed.value.code == "generation_failed"
    assert await money(services, alice.user_id) == (before, 0)
    assert not [r for r in fal.requests if r["path"].startswith("/files/")], "the links were never requested"
    assert await services.ledger.check() == []
