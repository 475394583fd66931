"""The S3-compatible backend (AWS S3, MinIO, R2, B2...): boto3, each call in a worker thread.

boto3's clients are thread-safe, and a presigned URL is computed locally (no request), so `url`
runs inline. The client retries transient failures itself (botocore's "standard" mode, a few
attempts: every call here is idempotent: a put of the same key, a get, a delete). Missing objects
are `MediaNotFound`; anything else the store or the network does wrong is `StorageUnavailable`
with a log line naming the operation and the error code, never the credentials.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread
import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from smarthub_mcp.media.errors import MediaNotFound, StorageUnavailable
from smarthub_mcp.media.keys import check_key
from smarthub_mcp.media.storage import check_expires_in

log = logging.getLogger("smarthub.media")

_MISSING = {"NoSuchKey", "404", "NotFound"}


class S3Storage:
    name = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        addressing_style: str = "auto",
        timeout_seconds: float = 30.0,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": addressing_style},
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=min(timeout_seconds, 10.0),
            read_timeout=timeout_seconds,
        )
        # Without keys, boto3's own chain applies (environment, profile, instance role).
        self.client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=config,
        )

    def _object(self, key: str) -> str:
        return self.prefix + check_key(key)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        name = self._object(key)
        await self._call("put", lambda: self.client.put_object(
            Bucket=self.bucket, Key=name, Body=data, ContentType=content_type
        ))

    async def get(self, key: str) -> bytes:
        name = self._object(key)

        def read() -> bytes:
            body = self.client.get_object(Bucket=self.bucket, Key=name)["Body"]
            try:
                return bytes(body.read())
            finally:
                body.close()

        return await self._call("get", read)

    async def delete(self, key: str) -> None:
        name = self._object(key)
        await self._call("delete", lambda: self.client.delete_object(Bucket=self.bucket, Key=name))

    def url(self, key: str, *, expires_in: int) -> str:
        return str(self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": self._object(key)},
            ExpiresIn=check_expires_in(expires_in),
        ))

    def origins(self) -> list[str]:
        """The endpoint (path-style links) and the bucket's own host under it (virtual-hosted links)."""
        endpoint = urlsplit(str(self.client.meta.endpoint_url))
        return [f"{endpoint.scheme}://{endpoint.netloc}", f"{endpoint.scheme}://{self.bucket}.{endpoint.netloc}"]

    async def _call(self, operation: str, fn: Any) -> Any:
        try:
            return await anyio.to_thread.run_sync(fn)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _MISSING:
                raise MediaNotFound("no such media") from None
            log.warning("object store %s failed: %s", operation, code or "client error")
            raise StorageUnavailable("the media store refused the request; try again later") from None
        except BotoCoreError as exc:
            log.warning("object store %s failed: %s", operation, type(exc).__name__)
            raise StorageUnavailable("the media store is unreachable; try again later") from None

    async def aclose(self) -> None:
        self.client.close()
