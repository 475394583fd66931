"""`smarthub` in process, through click's test runner, as a subprocess would see it.

Each invocation runs on a thread of its own, so the command's `asyncio.run` never meets the test's
event loop; in a working directory of its own (the default is a fresh temporary one, never the
repository root with its config.toml); and with the environment a subprocess started with only
`PATH` and `env` would have. The result keeps a subprocess's shape (`returncode`, `stdout`,
`stderr`), and an exception that escaped the command is written into `stderr` as the traceback a
subprocess would print, so "no traceback" assertions keep their meaning.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from smarthub_mcp.cli import main

KEPT = ("PATH",)
_cwd_lock = threading.Lock()  # the working directory belongs to the whole process


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


def _invoke(args: tuple[str, ...], env: dict[str, str], stdin: str | None, cwd: Path) -> Ran:
    clean: dict[str, str | None] = {name: None for name in os.environ if name not in KEPT}
    clean.update(env)
    with _cwd_lock:
        before = os.getcwd()
        os.chdir(cwd)
        try:
            result = CliRunner().invoke(main, list(args), input=stdin, env=clean, prog_name="smarthub")
        finally:
            os.chdir(before)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "Traceback (most recent call last):\n" + "".join(traceback.format_exception(result.exception))
    return Ran(result.exit_code, result.stdout, stderr)


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None, stdin: str | None = None) -> Ran:
    """Run `smarthub ARGS...` and wait for it (at most a minute, like the subprocesses before)."""
    outcome: list[Ran | BaseException] = []

    def run() -> None:
        try:
            with tempfile.TemporaryDirectory() as scratch:
                outcome.append(_invoke(args, env or {}, stdin, cwd or Path(scratch)))
        except BaseException as exc:  # handed to the caller's thread
            outcome.append(exc)

    thread = threading.Thread(target=run, name="smarthub-cli", daemon=True)
    thread.start()
    thread.join(timeout=60)
    assert outcome, f"smarthub {' '.join(args)} did not finish within a minute"
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


async def acli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
               stdin: str | None = None) -> Ran:
    """`cli` from a test coroutine, without blocking its event loop."""
    return await asyncio.to_thread(cli, *args, env=env, cwd=cwd, stdin=stdin)
