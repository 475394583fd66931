"""The token in a job's webhook URL: an HMAC of the job id, so only whoever was given the URL (the
provider) can post for that job."""

from __future__ import annotations

import base64
import hashlib
import hmac

PATH = "/webhooks/jobs"


def webhook_token(secret: bytes, job_id: str) -> str:
    digest = hmac.new(secret, f"job-webhook\n{job_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).rstrip(b"=").decode("ascii")


def webhook_url(public_base_url: str, secret: bytes, job_id: str) -> str:
    return f"{public_base_url.rstrip('/')}{PATH}/{job_id}/{webhook_token(secret, job_id)}"


def token_matches(secret: bytes, job_id: str, presented: str) -> bool:
    return hmac.compare_digest(presented.encode(), webhook_token(secret, job_id).encode())
