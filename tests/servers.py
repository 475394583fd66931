"""Real processes for the deployment tests: `smarthub serve` replicas and Debian's caddy with the
shipped deploy/Caddyfile, each on free loopback ports, started and stopped by the test."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import anyio
import httpx
import pytest

from tests.conftest import free_port

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


class Replica:
    """`smarthub serve` in a subprocess; `start()` again after `stop()` is a restart on the same port."""

    def __init__(self, env: dict[str, str], cwd: Path, name: str) -> None:
        self.env = {"PATH": "/usr/bin:/bin", **env}
        self.cwd = cwd
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[str] | None = None
        self.logs: list[str] = []

    async def start(self) -> None:
        log = self.cwd / f"{self.name}-{len(self.logs)}.log"
        self.logs.append(str(log))
        with log.open("w") as sink:
            self.process = subprocess.Popen(  # noqa: ASYNC220 -- starting it does not block
                [sys.executable, "-m", "smarthub_mcp", "serve", "--port", str(self.port)],
                env=self.env, cwd=self.cwd, stdout=sink, stderr=subprocess.STDOUT, text=True,
            )
        await wait_ready(f"{self.url}/readyz", self)

    def sigterm(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    async def exited(self) -> int:
        """The exit code, once it has stopped (bounded: a minute)."""
        assert self.process is not None
        return await asyncio.to_thread(self.process.wait, 60)

    def log_text(self, run: int | None = None) -> str:
        """What it wrote: every run's output, or run `run`'s (0: the first start)."""
        paths = self.logs if run is None else [self.logs[run]]
        return "".join(Path(path).read_text() for path in paths)

    async def stop(self) -> int:
        """SIGTERM, then the exit code (a graceful stop lets background releases finish)."""
        self.sigterm()
        return await self.exited()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)


async def wait_ready(url: str, owner: Replica | Caddy, *, verify: ssl.SSLContext | bool = True) -> None:
    async with httpx.AsyncClient(timeout=2, verify=verify) as probe:
        with anyio.fail_after(60):
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await probe.get(url)).status_code == 200:
                        return
                assert owner.process is not None and owner.process.poll() is None, owner.log_text()
                await asyncio.sleep(0.1)


class Caddy:
    """Debian's caddy running deploy/Caddyfile with its own internal CA, in front of `upstreams`."""

    def __init__(self, upstreams: list[str], workdir: Path) -> None:
        binary = shutil.which("caddy")
        if binary is None:
            if os.environ.get("SMARTHUB_TEST_REQUIRE_CADDY") == "1":
                pytest.fail("caddy is required (SMARTHUB_TEST_REQUIRE_CADDY=1): run scripts/install_tools.sh")
            pytest.skip("caddy is not installed (scripts/install_tools.sh installs it)")
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.url = f"https://localhost:{self.port}"
        self.env = {
            "PATH": "/usr/bin:/bin", "HOME": str(workdir), "XDG_DATA_HOME": str(workdir / "data"),
            "XDG_CONFIG_HOME": str(workdir / "config"), "SMARTHUB_DOMAIN": "localhost", "SMARTHUB_TLS": "internal",
            "SMARTHUB_UPSTREAMS": " ".join(upstreams), "CADDY_HTTPS_PORT": str(self.port),
            "CADDY_HTTP_PORT": str(free_port()), "CADDY_ADMIN": f"localhost:{free_port()}",
        }
        self.process: subprocess.Popen[str] | None = None
        self.log = workdir / "caddy.log"

    def tls_context(self) -> ssl.SSLContext:
        """Trusts Caddy's internal CA (its root certificate, written when it starts)."""
        return ssl.create_default_context(cafile=self.root_certificate)

    @property
    def root_certificate(self) -> str:
        return str(self.workdir / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt")

    async def __aenter__(self) -> Caddy:
        with self.log.open("w") as sink:
            self.process = subprocess.Popen(  # noqa: ASYNC220 -- starting it does not block
                [self.binary, "run", "--adapter", "caddyfile", "--config", str(DEPLOY / "Caddyfile")],
                env=self.env, cwd=self.workdir, stdout=sink, stderr=subprocess.STDOUT, text=True,
            )
        with anyio.fail_after(30):
            while not await anyio.Path(self.root_certificate).is_file():
                assert self.process.poll() is None, self.log_text()
                await asyncio.sleep(0.1)
        await wait_ready(f"{self.url}/healthz", self, verify=self.tls_context())
        return self

    def log_text(self) -> str:
        return self.log.read_text()

    async def __aexit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.process.wait, 15)
            except subprocess.TimeoutExpired:
                self.process.kill()
