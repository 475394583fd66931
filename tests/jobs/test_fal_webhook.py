"""fal posts a finished job to the app's per-job webhook URL (over real HTTP): the job settles from
the post, before any poll could have finished it, and is charged once for what was delivered."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from smarthub_mcp.config import AppConfig
from smarthub_mcp.tools import images as image_tools
from smarthub_mcp.tools.registry import invoke
from tests.fakes.fal_queue_server import FakeFal, FalJob
from tests.jobs.conftest import customer, served_for_webhooks

PRICE = 25_000
TOML = """
[server]
public_base_url = "{app}"

[jobs]
webhooks = true
poll_interval_seconds = 300
wait_seconds = 10

[providers.fal]
type = "fal"
api_key_env = "FAL_KEY"
base_url = "{fal}"

[models.flux]
kind = "image"
routes = [{{ provider = "fal", upstream = "fal-ai/flux/dev" }}]
price = {{ per_image = {{ "64x64" = 0.025 }} }}
"""


async def test_a_fal_webhook_settles_the_job_once(make_config: Callable[..., AppConfig], db: object,
                                                  tmp_path: Path) -> None:
    async with FakeFal() as fal, served_for_webhooks(make_config, lambda url: TOML.format(app=url, fal=fal.url),
                                                     tmp_path / "media", FAL_KEY=fal.api_key) as (url, services):
        fal.script(FalJob(in_queue=1000, flagged=(1,), webhook=True))  # polling would never finish it
        alice = await customer(services)
        before = (await services.ledger.balance(alice.user_id)).balance
        out = await invoke(image_tools.generate_image, services, alice,
                           {"prompt": "a kite", "model": "flux", "count": 3}, request_id="test")
        assert (out.status, out.delivered, out.flagged) == ("succeeded", 2, 1)
        (submit,) = fal.submits
        assert submit["query"]["fal_webhook"].startswith(f"{url}/webhooks/jobs/{out.job_id}/")
        assert fal.webhook_replies == [200]
        polls = [r for r in fal.requests if r["path"].endswith("/status")]
        assert not polls  # settled by the post, not by a poll
        balance = await services.ledger.balance(alice.user_id)
        # the flagged image is held for review, its price held until an admin decides
        assert (balance.balance, balance.held, out.held_for_review) == (before - 2 * PRICE, PRICE, 1)
        assert await services.ledger.check() == []
