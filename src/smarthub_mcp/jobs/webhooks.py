"""Provider webhooks: a provider that can post a job's result does, and the first of the webhook and
the poller to arrive settles the job (both go through `JobEngine.finish` / `settle`, whose
compare-and-set lets one win and the other change nothing).

Each job's webhook URL carries an HMAC of its id (`/webhooks/jobs/{job_id}/{token}`), so only whoever
we gave the URL to (the provider) can speak for that job; a wrong token is a 404 like an unknown job.
The body is read by the adapter (`parse_webhook`); its upstream id must be the job's when we know it.
A post that only says the job moved (kie's callback, answered as `Pending`) makes the job due now:
its record is read from the provider's API by the next poll, not taken from the post.
"""

from __future__ import annotations

import logging

from smarthub_mcp.errors import InvalidRequest, ProviderError
from smarthub_mcp.jobs import settle, store
from smarthub_mcp.jobs.engine import JobEngine
from smarthub_mcp.jobs.errors import JobNotFound
from smarthub_mcp.jobs.tokens import token_matches
from smarthub_mcp.providers.media import Finished, Pending, WebhookParser

log = logging.getLogger("smarthub.jobs")


async def receive(engine: JobEngine, secret: bytes, job_id: str, presented: str, body: bytes,
                  headers: dict[str, str]) -> str:
    """Apply a provider's post to its job. Returns what happened (for the log and the reply)."""
    if not token_matches(secret, store.check_job_id(job_id), presented):
        raise JobNotFound("no such job")
    job = await store.get(engine.db, job_id)
    if job is None:
        raise JobNotFound("no such job")
    if job.settled:
        return "already settled"
    entry = engine.router.registry.get(job.provider or "")
    if not entry.available or not isinstance(entry.provider, WebhookParser):
        raise JobNotFound("no such job")
    try:
        upstream_id, outcome = entry.provider.parse_webhook(body, headers)
    except ProviderError:  # a body the adapter cannot read: the sender's mistake, not a failed job
        raise InvalidRequest("this post is not one the job's provider sends") from None
    if job.upstream_id is not None and upstream_id != job.upstream_id:
        log.warning("job %s: a webhook for upstream %s, not %s; ignored", job.id, upstream_id, job.upstream_id)
        return "ignored"
    if isinstance(outcome, Finished):
        result = await engine.finish(job, outcome, provider=job.provider or "", upstream=job.upstream_model or "")
        await engine.changed(job.id)
        return "settled" if result.first else "already settled"
    if isinstance(outcome, ProviderError):
        if outcome.retryable:
            return "pending"
        result = await settle.fail(engine.db, engine.meter, job, code=outcome.code, message=outcome.message)
        await engine.changed(job.id)
        return "settled" if result.first else "already settled"
    if isinstance(outcome, Pending):
        await engine.check_soon(job)
    return "pending"
