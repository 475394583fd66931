"""`job://{id}` through the SDK's own client: a client listening on the 2026-07-28 protocol is told
when its job moves and reads it again; another user cannot read it."""

from __future__ import annotations

import asyncio
import json

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from smarthub_mcp.jobs import store
from smarthub_mcp.jobs.worker import run_round
from smarthub_mcp.tools.server import build_mcp_server
from tests.factories import make_api_key, make_user_with_token


async def server_for(services):
    user_id, _ = await make_user_with_token(services)
    return user_id, build_mcp_server(services, api_key=await make_api_key(services, user_id))


async def drive_until_settled(services, job_id: str) -> None:
    """What a replica's workers do: step the job until it settles."""
    for _ in range(200):
        running: set[asyncio.Task[object]] = set()
        await run_round(services.jobs, running)
        if running:
            await asyncio.gather(*running)
        job = await store.get(services.db, job_id)
        if job.settled:
            return
        await asyncio.sleep(0.05)


async def test_a_listening_client_hears_its_job_move_and_reads_it(services):
    _, alice_server = await server_for(services)
    _, bob_server = await server_for(services)
    services.settings.jobs.wait_seconds = 0
    with anyio.fail_after(60):
        async with Client(alice_server) as client:
            templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
            assert "job://{job_id}" in templates
            started = await client.call_tool("generate_video", {"prompt": "waves", "model": "demo-video"})
            job_id = started.structured_content["job_id"]
            assert started.structured_content["status"] == "running"
            uri = f"job://{job_id}"
            heard: list[str] = []
            async with client.listen(resource_subscriptions=[uri]) as sub:
                worker = asyncio.create_task(drive_until_settled(services, job_id))
                async for event in sub:
                    heard.append(event.uri)
                    (content,) = (await client.read_resource(uri)).contents
                    if json.loads(content.text)["status"] == "succeeded":
                        break
                await worker
            shown = json.loads(content.text)
            assert heard and set(heard) == {uri}
            assert shown["job_id"] == job_id and shown["media"][0]["kind"] == "video"
        async with Client(bob_server) as other:
            with pytest.raises(MCPError) as info:
                await other.read_resource(uri)
            assert info.value.error.data["code"] == "job_not_found"
