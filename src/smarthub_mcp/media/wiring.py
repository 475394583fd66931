"""Build the configured storage backend (the composition root calls this once)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from smarthub_mcp.config import StorageConfig
from smarthub_mcp.media.local import LocalStorage
from smarthub_mcp.media.signing import UrlSigner
from smarthub_mcp.media.storage import Storage


def build_storage(
    config: StorageConfig, environ: Mapping[str, str], *, public_base_url: str, link_secret: Callable[[], bytes]
) -> Storage:
    """`link_secret` is read on the first signed link only, so commands that sign none need no keys."""
    if config.backend == "s3":
        from smarthub_mcp.media.s3 import S3Storage  # boto3 loads only for the backend that uses it

        assert config.bucket is not None  # the config check refuses s3 without a bucket
        return S3Storage(
            config.bucket,
            prefix=config.prefix,
            endpoint_url=config.endpoint_url,
            region=config.region,
            access_key_id=environ.get(config.access_key_id_env) or None,
            secret_access_key=environ.get(config.secret_access_key_env) or None,
            addressing_style=config.addressing_style,
            timeout_seconds=config.timeout_seconds,
        )
    return LocalStorage(config.directory, signer=UrlSigner(link_secret), public_base_url=public_base_url)
