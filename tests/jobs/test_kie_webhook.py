"""kie posts to the job's callback URL when a task ends (over real HTTP): the post makes the job due
at once, the next poll reads the result from recordInfo, and the job settles long before its
5-minute poll interval would have come round; charged once for what was delivered."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from smarthub_mcp.config import AppConfig
from smarthub_mcp.ids import now_ms
from smarthub_mcp.jobs import store
from smarthub_mcp.tools import images as image_tools
from smarthub_mcp.tools.registry import invoke
from tests.fakes.kie_server import FakeKie, KieTask
from tests.jobs.conftest import customer, served_for_webhooks

PRICE = 25_000
TOML = """
[server]
public_base_url = "{app}"

[jobs]
webhooks = true
poll_interval_seconds = 300
wait_seconds = 10

[providers.kie]
type = "kie"
api_key_env = "KIE_API_KEY"
base_url = "{kie}"

[models.banana]
kind = "image"
routes = [{{ provider = "kie", upstream = "google/nano-banana" }}]
price = {{ per_image = {{ "64x64" = 0.025 }} }}
"""


def config_for(kie: FakeKie) -> Callable[[str], str]:
    return lambda url: TOML.format(app=url, kie=kie.url)


@pytest.mark.parametrize("after", [0.3, 0.0], ids=["after-the-submit", "racing-the-submit"])
async def test_a_kie_callback_makes_the_job_read_at_once(make_config: Callable[..., AppConfig], db: object,
                                                         tmp_path: Path, after: float) -> None:
    """Posted after our submit step ended, or while it still runs (the post beats the create's
    answer): either way the job is read at once, not 5 minutes later."""
    async with FakeKie() as kie, served_for_webhooks(make_config, config_for(kie), tmp_path / "media",
                                                     KIE_API_KEY=kie.api_key) as (url, services):
        kie.script(KieTask(callback=after, images=2))  # no poll would come round within the call's wait
        alice = await customer(services)
        before = (await services.ledger.balance(alice.user_id)).balance
        out = await invoke(image_tools.generate_image, services, alice,
                           {"prompt": "a kite", "model": "banana", "count": 2}, request_id="test")
        assert (out.status, out.delivered) == ("succeeded", 2)
        (create,) = kie.submits
        assert create["body"]["callBackUrl"].startswith(f"{url}/webhooks/jobs/{out.job_id}/")
        assert kie.callback_replies == [200]
        polls = [r for r in kie.requests if r["path"].endswith("/recordInfo")]
        assert len(polls) == 1, "read once, when kie said it was done"
        balance = await services.ledger.balance(alice.user_id)
        assert (balance.balance, balance.held) == (before - 2 * PRICE, 0)
        assert await services.ledger.check() == []


async def test_a_callback_without_a_task_id_is_refused_and_changes_nothing(make_config: Callable[..., AppConfig],
                                                                           db: object, tmp_path: Path) -> None:
    async with FakeKie() as kie, served_for_webhooks(make_config, config_for(kie), tmp_path / "media",
                                                     KIE_API_KEY=kie.api_key) as (_, services), \
            httpx.AsyncClient() as http:
        services.settings.jobs.wait_seconds = 0  # answer after the submit; the job stays waiting at kie
        kie.script(KieTask(waiting=1000))
        alice = await customer(services)
        out = await invoke(image_tools.generate_image, services, alice,
                           {"prompt": "a kite", "model": "banana"}, request_id="test")
        hook = kie.submits[0]["body"]["callBackUrl"]
        for body in ({"code": 200, "data": {}}, {"code": 200}, [1, 2]):
            answer = await http.post(hook, json=body)
            assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_request", answer.text
        job = await store.get(services.db, out.job_id)
        assert job is not None and job.status == "running"
        assert job.next_check_at > now_ms() + 60_000, "a refused post does not make the job due"
