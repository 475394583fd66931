"""Soak: `smarthub serve` under a steady rate of metered calls for minutes, against the demo provider.

Starts the server in a subprocess on a fresh SQLite file (or `--database-url`, upgraded first),
creates a user with a key and credits through the CLI, then sends `--rate` chat calls a second
through the HTTP tool facade (open loop: a call starts on schedule whether or not the earlier ones
finished), for `--minutes`. Prints one row a minute: calls, errors, p50 and p99 latency, and the
server's resident memory; then the memory at start and end, and `smarthub credits check`.

Usage: .venv/bin/python bench/soak.py [--minutes 10] [--rate 20] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.drive import percentile
from tests.conftest import free_port

EMAIL = "soak@example.com"


@dataclass
class Minute:
    calls: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    rss_mib: float = 0.0


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def smarthub(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    ran = subprocess.run([sys.executable, "-m", "smarthub_mcp", *args], env=env, input=stdin, text=True,
                         capture_output=True, check=False)
    if ran.returncode != 0:
        raise SystemExit(f"smarthub {' '.join(args)} failed: {ran.stderr.strip()}")
    return ran.stdout.strip()


async def wait_ready(url: str, process: subprocess.Popen[str]) -> None:
    async with httpx.AsyncClient(timeout=2) as probe:
        for _ in range(600):
            try:
                if (await probe.get(f"{url}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if process.poll() is not None:
                raise SystemExit("the server exited during start-up")
            await asyncio.sleep(0.1)
    raise SystemExit("the server did not become ready")


async def drive(url: str, key: str, rate: float, minutes: float, pid: int) -> list[Minute]:
    total_s = minutes * 60
    rows = [Minute() for _ in range(max(1, int(-(-total_s // 60))))]
    tasks: set[asyncio.Task[None]] = set()
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits,
                                 headers={"Authorization": f"Bearer {key}"}) as http:

        async def one(n: int, row: Minute) -> None:
            started = time.perf_counter()
            try:
                r = await http.post("/api/v1/tools/chat", json={"prompt": f"soak call {n}", "max_tokens": 32})
                ok = r.status_code == 200
            except httpx.HTTPError:
                ok = False
            row.calls += 1
            row.errors += not ok
            row.latencies.append((time.perf_counter() - started) * 1000)

        began = time.monotonic()
        n = 0
        while (elapsed := time.monotonic() - began) < total_s:
            minute = int(elapsed // 60)
            task = asyncio.create_task(one(n, rows[minute]))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            n += 1
            if n % max(1, int(rate)) == 0:  # once a second: the row keeps the minute's last reading
                rows[minute].rss_mib = rss_mib(pid)
            await asyncio.sleep(max(0.0, began + n / rate - time.monotonic()))
        await asyncio.gather(*tasks)
    rows[-1].rss_mib = rss_mib(pid)
    return rows


def print_table(rows: list[Minute], rss_start: float, rate: float) -> None:
    print(f"\nsoak: {rate:g} calls/s (chat, demo provider, HTTP tool facade)")
    print(f"{'minute':>6} {'calls':>7} {'errors':>7} {'p50 ms':>8} {'p99 ms':>8} {'RSS MiB':>8}")
    for index, row in enumerate(rows, 1):
        print(f"{index:>6} {row.calls:>7} {row.errors:>7} {percentile(row.latencies, 0.5):>8.1f}"
              f" {percentile(row.latencies, 0.99):>8.1f} {row.rss_mib:>8.1f}")
    calls, errors = sum(r.calls for r in rows), sum(r.errors for r in rows)
    print(f"total: {calls} calls, {errors} errors; RSS start {rss_start:.1f} MiB, end {rows[-1].rss_mib:.1f} MiB")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=20.0, help="calls a second (default 20)")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="smarthub-soak-") as scratch:
        port = free_port()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "SMARTHUB_DATABASE_URL": args.database_url or f"sqlite+aiosqlite:///{scratch}/soak.db",
            "SMARTHUB_JWT_SECRET": "soak-" + "s" * 40, "SMARTHUB_AUTH__DEV_MODE": "false",
            "SMARTHUB_LOG_LEVEL": "WARNING",
            # 0 = unlimited: the soak measures the server, not the rate limiter's refusals.
            "SMARTHUB_LIMITS__USERS": f'{{"{EMAIL}": {{"requests_per_minute": 0, "tokens_per_minute": 0}}}}',
        }
        smarthub(env, "db", "upgrade")
        smarthub(env, "users", "create", EMAIL, "--password-stdin", stdin="soak password 123\n")
        key = smarthub(env, "keys", "create", EMAIL, "--name", "soak").split()[-1]
        smarthub(env, "credits", "grant", EMAIL, "100000", "--reason", "soak")
        server = subprocess.Popen(  # noqa: ASYNC220 -- started once, before the measured part
            [sys.executable, "-m", "smarthub_mcp", "serve", "--port", str(port)], env=env,
            cwd=scratch, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            url = f"http://127.0.0.1:{port}"
            await wait_ready(url, server)
            async with httpx.AsyncClient(base_url=url, timeout=30, headers={"Authorization": f"Bearer {key}"}) as h:
                for n in range(20):  # warm-up: first-call imports and caches are not the soak's subject
                    await h.post("/api/v1/tools/chat", json={"prompt": f"warm-up {n}", "max_tokens": 32})
            rss_start = rss_mib(server.pid)
            rows = await drive(url, key, args.rate, args.minutes, server.pid)
            print_table(rows, rss_start, args.rate)
        finally:
            server.terminate()
            _, stderr = server.communicate(timeout=60)
        errors = [line for line in stderr.splitlines() if " ERROR " in line or "Traceback" in line]
        print(f"server exit code {server.returncode}; error lines in its log: {len(errors)}")
        for line in errors[:5]:
            print("  " + line[:200])
        print("credits check:", smarthub(env, "credits", "check"))


if __name__ == "__main__":
    asyncio.run(main())
