"""What the gateway costs per MCP call: SmartHub (SQLite and PostgreSQL) against a bare MCPServer.

Starts, as separate processes: a bare MCPServer with one no-op tool, a loopback fake OpenAI upstream,
and `smarthub serve` on SQLite and on PostgreSQL. Drives each over Streamable HTTP with the SDK client
at concurrency 1 and 16 and prints calls/s, p50 and p99 for the bare no-op, `get_balance`, `chat` on
the demo provider, and `chat` routed to the fake OpenAI (plain and streaming, over MCP; plain over
the HTTP tool facade; and the `openai` SDK through SmartHub's OpenAI-compatible `/v1`), next to
the same chat requests sent straight to the fake with the `openai` SDK. At concurrency 16 it also
runs chat(demo) from sixteen users (one key per client), beside sixteen clients of one user.

Every scenario runs in each of `--rounds` interleaved rounds and the table shows medians, because
a shared 2-core machine drifts by a millisecond or more from one minute to the next. MCP scenarios
run with both protocol generations of the SDK client (`--modes`).

Usage: python bench/mcp_overhead.py [--calls 300] [--rounds 3] [--modes auto,legacy]
                                    [--pg-url postgresql://postgres@127.0.0.1/test] [--no-pg]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import openai

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.drive import Figures, measure, measure_http, percentile

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
UPSTREAM_KEY = "sk-bench-" + secrets.token_hex(8)

CONFIG = """
[providers.demo]
type = "demo"

[providers.fake]
type = "openai"
base_url = "{upstream}/v1"
api_key_env = "BENCH_UPSTREAM_KEY"
max_retries = 0
max_concurrency = 256

[models.demo-chat]
kind = "chat"
routes = [{{ provider = "demo", upstream = "demo-chat-1" }}]
price = {{ input_per_million = 1, output_per_million = 2 }}

[models.fake-gpt]
kind = "chat"
routes = [{{ provider = "fake", upstream = "gpt-fake" }}]
price = {{ input_per_million = 1, output_per_million = 2 }}

[limits.roles.user]
requests_per_minute = 0
tokens_per_minute = 0
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on port {port}")


@contextlib.contextmanager
def process(*args: str, env: dict[str, str] | None = None, stdout=subprocess.DEVNULL) -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen(args, env=env, stdout=stdout, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        yield proc
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        if proc.poll() is None:
            proc.kill()


def smarthub_env(database_url: str, config_path: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "SMARTHUB_DATABASE_URL": database_url,
        "SMARTHUB_CONFIG": str(config_path),
        "SMARTHUB_JWT_SECRET": "bench-" + "s" * 40,
        "SMARTHUB_AUTH__DEV_MODE": "false",
        "SMARTHUB_LOGGING__LEVEL": "WARNING",
        "BENCH_UPSTREAM_KEY": UPSTREAM_KEY,
    }


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([PY, "-m", "smarthub_mcp", *args], env=env, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"smarthub {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def prepare_user(env: dict[str, str]) -> str:
    email = f"bench-{secrets.token_hex(3)}@example.com"
    cli(env, "db", "upgrade")
    cli(env, "users", "create", email, "--password", "bench-password-123")
    cli(env, "credits", "grant", email, "1000000", "--reason", "benchmark")
    key = cli(env, "keys", "create", email, "--name", "bench")
    return next(word for word in key.split() if word.startswith("shk_"))


async def openai_calls(
    base_url: str, *, stream: bool, concurrency: int, calls: int, api_key: str = UPSTREAM_KEY, model: str = "gpt-fake"
) -> Figures:
    """Chat completions through the `openai` SDK: straight to the fake, or through SmartHub's /v1."""
    client = openai.AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0)
    latencies: list[float] = []

    async def one() -> None:
        started = time.perf_counter()
        messages = [{"role": "user", "content": "Hello there"}]
        if stream:
            response = await client.chat.completions.create(
                model=model, messages=messages, max_tokens=64, stream=True, stream_options={"include_usage": True}
            )
            async for _ in response:
                pass
        else:
            await client.chat.completions.create(model=model, messages=messages, max_tokens=64)
        latencies.append((time.perf_counter() - started) * 1000)

    async def worker(n: int) -> None:
        for _ in range(n):
            await one()

    for _ in range(10):
        await one()
    latencies.clear()
    started = time.perf_counter()
    await asyncio.gather(*(worker(calls // concurrency) for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await client.close()
    return Figures(len(latencies), 0, len(latencies) / elapsed, statistics.median(latencies),
                   percentile(latencies, 0.99))


def row(name: str, conc: int, runs: list[Figures]) -> str:
    f = median_figures(runs)
    spread = f"{min(r.p50_ms for r in runs):.2f}-{max(r.p50_ms for r in runs):.2f}"
    return (f"| {name:<44} | {conc:>4} | {f.per_second:>8.0f} | {f.p50_ms:>7.2f} | {spread:>11} | {f.p99_ms:>7.2f} "
            f"| {f.errors:>4} |")


def median_figures(runs: list[Figures]) -> Figures:
    """The median of each figure over the rounds (errors are summed: any error matters)."""
    return Figures(
        calls=sum(r.calls for r in runs),
        errors=sum(r.errors for r in runs),
        per_second=statistics.median(r.per_second for r in runs),
        p50_ms=statistics.median(r.p50_ms for r in runs),
        p99_ms=statistics.median(r.p99_ms for r in runs),
    )


PROTOCOLS = {"auto": "2026-07-28", "legacy": "2025-11-25"}
"""The SDK client's modes: `auto` speaks the stateless 2026-07-28 protocol (its default), `legacy`
the 2025 handshake that the MCP Inspector and most deployed clients still use."""


async def run(args: argparse.Namespace) -> None:
    calls = args.calls
    modes = args.modes.split(",")
    tmp = Path(tempfile.mkdtemp(prefix="smarthub-bench-"))
    scenarios: list[tuple[str, int, Callable[[], Awaitable[Figures]]]] = []
    with contextlib.ExitStack() as stack:
        upstream_proc = stack.enter_context(
            process(PY, "bench/fake_upstream.py", UPSTREAM_KEY, stdout=subprocess.PIPE)
        )
        upstream = upstream_proc.stdout.readline().decode().strip()
        bare_port = free_port()
        stack.enter_context(process(PY, "bench/bare_server.py", str(bare_port)))
        wait_port(bare_port)
        config_path = tmp / "config.toml"
        config_path.write_text(CONFIG.format(upstream=upstream))

        backends = [("sqlite", f"sqlite+aiosqlite:///{tmp / 'bench.db'}")]
        if not args.no_pg:
            backends.append(("postgresql", pg_database(args.pg_url, stack)))

        for conc in (1, 16):
            for mode in modes:
                bare = f"http://127.0.0.1:{bare_port}/mcp"
                scenarios.append((f"bare noop [{PROTOCOLS[mode]}]", conc, functools.partial(
                    measure, bare, "noop", {}, concurrency=conc, calls=calls, mode=mode)))
            for stream in (False, True):
                scenarios.append((f"openai SDK -> fake{' (stream)' if stream else ''}", conc, functools.partial(
                    openai_calls, f"{upstream}/v1", stream=stream, concurrency=conc, calls=calls)))

        for backend, url in backends:
            env = smarthub_env(url, config_path)
            key = prepare_user(env)
            # Sixteen clients of one user queue on that user's account row; sixteen users (a
            # gateway's usual load) do not. Both are measured for chat(demo) at concurrency 16.
            crowd = [{"Authorization": f"Bearer {prepare_user(env)}"} for _ in range(16)]
            port = free_port()
            stack.enter_context(process(PY, "-m", "smarthub_mcp", "serve", "--port", str(port), env=env))
            wait_port(port)
            mcp_url = f"http://127.0.0.1:{port}/mcp"
            headers = {"Authorization": f"Bearer {key}"}
            for conc in (1, 16):
                for mode in modes:
                    for tool, arguments, stream in (
                        ("get_balance", {}, False),
                        ("chat", {"prompt": "Hello there", "max_tokens": 64}, False),
                        ("chat", {"prompt": "Hello there", "max_tokens": 64, "model": "fake-gpt"}, False),
                        ("chat", {"prompt": "Hello there", "max_tokens": 64, "model": "fake-gpt"}, True),
                    ):
                        label = f"{backend}: {tool}"
                        label += f" {arguments.get('model', 'demo-chat')}" if tool == "chat" else ""
                        label += (" (stream)" if stream else "") + f" [{PROTOCOLS[mode]}]"
                        scenarios.append((label, conc, functools.partial(
                            measure, mcp_url, tool, arguments, concurrency=conc, calls=calls, headers=headers,
                            progress=stream, mode=mode)))
                if conc == 16:
                    scenarios.append((f"{backend}: chat demo-chat, 16 users [{PROTOCOLS['auto']}]", conc,
                                      functools.partial(measure, mcp_url, "chat", {"prompt": "Hello there",
                                                        "max_tokens": 64}, concurrency=conc, calls=calls,
                                                        headers=crowd, mode="auto")))
                for stream in (False, True):
                    label = f"{backend}: openai SDK -> /v1 -> fake{' (stream)' if stream else ''}"
                    scenarios.append((label, conc, functools.partial(
                        openai_calls, f"http://127.0.0.1:{port}/v1", stream=stream, concurrency=conc, calls=calls,
                        api_key=key, model="fake-gpt")))
                facade = f"http://127.0.0.1:{port}/api/v1/tools/chat"
                body = {"prompt": "Hello there", "max_tokens": 64, "model": "fake-gpt"}
                scenarios.append((f"{backend}: HTTP facade chat fake-gpt", conc, functools.partial(
                    measure_http, facade, body, concurrency=conc, calls=calls, headers=headers)))

        # Rounds interleave every scenario, so a slow minute on a shared machine spreads over all of
        # them instead of landing on one; each figure is the median over the rounds.
        results: dict[tuple[str, int], list[Figures]] = {}
        # The servers freeze their start-up heap (`serve`); so does the driver, or its own full
        # collections over the SDKs it imported would land in the latencies it measures.
        gc.collect()
        gc.freeze()
        for round_no in range(args.rounds):
            print(f"round {round_no + 1}/{args.rounds}: {len(scenarios)} scenarios", file=sys.stderr, flush=True)
            for name, conc, scenario in scenarios:
                results.setdefault((name, conc), []).append(await scenario())

    print(f"\n{args.rounds} rounds of {calls} calls per scenario; median figures, p50 spread over the rounds")
    print()
    print("| scenario                                     | conc |  calls/s |  p50 ms |  p50 spread |  p99 ms | errs |")
    print("|----------------------------------------------|------|----------|---------|-------------|---------|------|")
    print("\n".join(row(name, conc, runs) for (name, conc), runs in results.items()))
    print()
    figures = {key: median_figures(runs) for key, runs in results.items()}
    for line in summary(figures, [b for b, _ in backends], modes):
        print(line)


def summary(figures: dict[tuple[str, int], Figures], backends: list[str], modes: list[str]) -> list[str]:
    """The targets' comparisons: chat(demo) against the bare no-op (issue #5), chat routed to the fake
    against the openai SDK straight to it (issue #6)."""
    lines = []

    def compare(label: str, base: Figures | None, subject: Figures | None) -> None:
        if base and subject:
            lines.append(f"{label}: added p50 {subject.p50_ms - base.p50_ms:+.2f} ms, "
                         f"throughput ratio {base.per_second / subject.per_second:.2f}x")

    for backend in backends:
        for conc in (1, 16):
            for mode in modes:
                proto = PROTOCOLS[mode]
                compare(f"{backend} c={conc} [{proto}] chat(demo) vs bare no-op",
                        figures.get((f"bare noop [{proto}]", conc)),
                        figures.get((f"{backend}: chat demo-chat [{proto}]", conc)))
                for suffix in ("", " (stream)"):
                    compare(f"{backend} c={conc} [{proto}] chat via gateway vs openai SDK direct{suffix}",
                            figures.get((f"openai SDK -> fake{suffix}", conc)),
                            figures.get((f"{backend}: chat fake-gpt{suffix} [{proto}]", conc)))
            if conc == 16:
                proto = PROTOCOLS["auto"]
                compare(f"{backend} c=16 [{proto}] chat(demo), 16 users, vs bare no-op",
                        figures.get((f"bare noop [{proto}]", conc)),
                        figures.get((f"{backend}: chat demo-chat, 16 users [{proto}]", conc)))
            for suffix in ("", " (stream)"):
                compare(f"{backend} c={conc} openai SDK via SmartHub's /v1 vs openai SDK direct{suffix}",
                        figures.get((f"openai SDK -> fake{suffix}", conc)),
                        figures.get((f"{backend}: openai SDK -> /v1 -> fake{suffix}", conc)))
            compare(f"{backend} c={conc} chat via the HTTP tool facade vs openai SDK direct",
                    figures.get(("openai SDK -> fake", conc)),
                    figures.get((f"{backend}: HTTP facade chat fake-gpt", conc)))
    return lines


def pg_database(admin_url: str, stack: contextlib.ExitStack) -> str:
    """A fresh PostgreSQL database for this run, dropped at the end."""
    name = f"smarthub_bench_{secrets.token_hex(4)}"
    psql = ["psql", admin_url, "-q", "-c"]
    subprocess.run([*psql, f'CREATE DATABASE "{name}"'], check=True, capture_output=True)
    stack.callback(subprocess.run, [*psql, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], capture_output=True)
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="measured calls per scenario and round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; figures are medians")
    parser.add_argument("--modes", default="auto,legacy", help="SDK client modes: auto (2026-07-28), legacy (2025)")
    default_pg = os.environ.get("SMARTHUB_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--pg-url", default=default_pg)
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
