"""Drive an MCP server over Streamable HTTP with the SDK client and measure calls.

`measure(url, tool, args, concurrency, calls, headers)` opens `concurrency` clients, each
calling `tool` in a loop, and returns calls/s with p50 and p99 latency in milliseconds.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


@dataclass
class Figures:
    calls: int
    errors: int
    per_second: float
    p50_ms: float
    p99_ms: float


def percentile(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def measure(
    url: str,
    tool: str,
    args: dict[str, Any],
    *,
    concurrency: int,
    calls: int,
    headers: dict[str, str] | list[dict[str, str]] | None = None,
    warmup: int = 20,
    progress: bool = False,
    mode: str = "legacy",
) -> Figures:
    """`progress=True` passes a progress callback, so the server streams (chat does). `headers` may
    be a list: client `i` sends `headers[i % len(headers)]` (e.g. one user's key per client)."""

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        return None

    callback = on_progress if progress else None
    latencies: list[float] = []
    errors = 0
    per_worker = max(1, calls // concurrency)

    per_client = headers if isinstance(headers, list) else [headers or {}]

    async def worker(n: int) -> None:
        nonlocal errors
        async with (
            httpx2.AsyncClient(headers=per_client[n % len(per_client)], timeout=30) as http,
            Client(streamable_http_client(url, http_client=http), mode=mode) as client,
        ):
            for _ in range(max(1, warmup // concurrency)):
                await client.call_tool(tool, args, progress_callback=callback)
            warmed.release()
            await ready.wait()
            for _ in range(per_worker):
                started = time.perf_counter()
                result = await client.call_tool(tool, args, progress_callback=callback)
                latencies.append((time.perf_counter() - started) * 1000)
                if result.is_error:
                    errors += 1

    ready = asyncio.Event()
    warmed = asyncio.Semaphore(0)
    tasks = [asyncio.create_task(worker(n)) for n in range(concurrency)]
    for _ in range(concurrency):  # every client connected and warmed up before the clock starts
        await asyncio.wait_for(warmed.acquire(), 60)
    started = time.perf_counter()
    ready.set()
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    return Figures(
        calls=len(latencies),
        errors=errors,
        per_second=len(latencies) / elapsed if elapsed else 0.0,
        p50_ms=statistics.median(latencies) if latencies else float("nan"),
        p99_ms=percentile(latencies, 0.99),
    )


async def measure_http(
    url: str, body: dict[str, Any], *, concurrency: int, calls: int, headers: dict[str, str], warmup: int = 20
) -> Figures:
    """The same loop over plain HTTP POSTs (the tool facade), one keep-alive client per worker."""
    latencies: list[float] = []
    errors = 0
    per_worker = max(1, calls // concurrency)

    async def worker() -> None:
        nonlocal errors
        async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
            for _ in range(max(1, warmup // concurrency)):
                await http.post(url, json=body)
            warmed.release()
            await ready.wait()
            for _ in range(per_worker):
                started = time.perf_counter()
                response = await http.post(url, json=body)
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    errors += 1

    ready = asyncio.Event()
    warmed = asyncio.Semaphore(0)
    tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
    for _ in range(concurrency):
        await asyncio.wait_for(warmed.acquire(), 60)
    started = time.perf_counter()
    ready.set()
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    return Figures(
        calls=len(latencies),
        errors=errors,
        per_second=len(latencies) / elapsed if elapsed else 0.0,
        p50_ms=statistics.median(latencies) if latencies else float("nan"),
        p99_ms=percentile(latencies, 0.99),
    )
