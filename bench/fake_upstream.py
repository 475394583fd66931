"""The loopback fake OpenAI server from the test suite, as a process of its own (a stand-in upstream).

Usage: python bench/fake_upstream.py API_KEY   — prints its base URL on stdout, then serves until killed.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.openai_server import FakeOpenAI


async def main(api_key: str) -> None:
    async with FakeOpenAI(api_key=api_key) as fake:
        fake.requests = _Discard()  # keep memory flat over thousands of requests
        print(fake.url, flush=True)
        await asyncio.Event().wait()


class _Discard(list):
    def append(self, item: object) -> None:
        return None


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
