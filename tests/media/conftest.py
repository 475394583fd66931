"""Storage backends for the media tests: a local directory with a clock the test controls, and S3
against moto's threaded server on loopback (one per run; a fresh bucket per test)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

from smarthub_mcp.compose import build_services
from smarthub_mcp.config import AppConfig
from smarthub_mcp.media.local import LocalStorage
from smarthub_mcp.media.s3 import S3Storage
from smarthub_mcp.media.signing import UrlSigner
from smarthub_mcp.services import Services
from tests.media.helpers import Clock

S3_KEYS = {"access_key_id": "testing-key", "secret_access_key": "testing-secret"}
LINK_SECRET = b"media-link-secret-for-tests-" + b"x" * 20


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
async def s3_storage(moto_url: str) -> AsyncIterator[S3Storage]:
    bucket = f"media-{secrets.token_hex(6)}"
    store = S3Storage(bucket, prefix="smarthub/", endpoint_url=moto_url, region="us-east-1",
                      addressing_style="path", **S3_KEYS)
    store.client.create_bucket(Bucket=bucket)
    try:
        yield store
    finally:
        await store.aclose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def local_storage(tmp_path: Path, clock: Clock) -> LocalStorage:
    return LocalStorage(tmp_path / "media", signer=UrlSigner(lambda: LINK_SECRET),
                        public_base_url="http://127.0.0.1", clock=clock)


@pytest.fixture(params=["local", "s3"])
def any_storage(request: pytest.FixtureRequest) -> LocalStorage | S3Storage:
    name = "local_storage" if request.param == "local" else "s3_storage"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


@pytest.fixture
def services(config: AppConfig, db, local_storage: LocalStorage) -> Services:
    """The app's services with the local store on the test's clock (the app serves its links)."""
    return build_services(config, storage=local_storage)


@pytest.fixture
def make_services(config: AppConfig, db) -> Callable[..., Services]:
    return lambda storage: build_services(config, storage=storage)
