"""The jobs engine: create a job with its hold, step it (submit once, poll), settle it once.

    job = await engine.create(principal, tool=..., model=..., ask=ImageAsk(...) or VideoAsk(...), request_id=...)
    job = await engine.wait(job, seconds, on_progress)     # steps it while the caller waits
    job = await engine.cancel(owner_id, job_id)

Rules (DESIGN: money):
- The job row and its hold commit in one transaction (`Meter.reserve(then=...)`).
- A submit is sent at most once: the job moves queued -> submitting by compare-and-set before the
  provider is called; a worker that finds a job still `submitting` after its lease ran out does not
  send it again, it marks it `unknown`. A submit whose answer never came (`ProviderOutcomeUnknown`,
  a cancellation mid-send, a crash) is `unknown` too: its credits stay held, it is polled where
  the provider gave an id, and it is never refunded because we stopped hearing from the provider.
- Steps run under a lease (store.claim): any replica's worker, or the call that created the job
  while it waits, takes the next due step; a dead worker's lease runs out and another takes over.
- Settlement is settle.py's single transaction; the price was frozen into the job at creation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from smarthub_mcp.billing.meter import Meter, Usage
from smarthub_mcp.billing.pricing import whole_seconds
from smarthub_mcp.config import JobsConfig
from smarthub_mcp.db import Database
from smarthub_mcp.errors import STORE_OUTAGES, ProviderError, ProviderOutcomeUnknown, SmartHubError
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.ids import new_id, now_ms
from smarthub_mcp.jobs import images, kinds, settle, store
from smarthub_mcp.jobs.delivery import Downloads, deliver
from smarthub_mcp.jobs.errors import JobNotCancellable
from smarthub_mcp.jobs.reviews import HeldOutput
from smarthub_mcp.jobs.store import Job
from smarthub_mcp.jobs.tokens import webhook_url
from smarthub_mcp.media.keys import content_type_for
from smarthub_mcp.media.library import MediaMeta, StoredOutput
from smarthub_mcp.media.storage import Storage
from smarthub_mcp.moderation.checks import Flag, Moderator
from smarthub_mcp.providers.media import Finished, MediaRequest, Outcome, Pending, WebhookParser
from smarthub_mcp.providers.router import Route, Router

log = logging.getLogger("smarthub.jobs")

Progress = Callable[[Job], Awaitable[None]]


def billed_failure(exc: ProviderError) -> bool:
    """A failure the provider says it charged for (Runway reports `provider_charge` on failed tasks)."""
    charge = exc.details.get("provider_charge") if isinstance(exc.details, dict) else None
    return isinstance(charge, int | float) and charge > 0


class JobEngine:
    def __init__(self, db: Database, meter: Meter, router: Router, storage: Storage, config: JobsConfig,
                 *, owner: str | None = None, webhook_base: str | None = None,
                 webhook_secret: Callable[[], bytes] | None = None,
                 on_change: Callable[[str], Awaitable[None]] | None = None,
                 moderator: Moderator | None = None, review_hold_seconds: float = 30 * 86400) -> None:
        self.db = db
        self.meter = meter
        self.router = router
        self.storage = storage
        self.config = config
        self.owner = owner or new_id("wrk")
        """This process's name on the leases it takes."""
        self.lease_ms = int(config.lease_seconds * 1000)
        self.webhook_base = webhook_base if config.webhooks else None
        self.webhook_secret = webhook_secret
        self.on_change = on_change
        """Told each job id whose state may have changed (MCP clients listening for `job://{id}`)."""
        self.moderator = moderator
        """Checks delivered outputs; a flagged one is held for review (jobs/reviews.py)."""
        self.review_hold_seconds = review_hold_seconds
        self.downloads = Downloads()
        self._changed: dict[str, asyncio.Event] = {}

    # --- creating -------------------------------------------------------------------------------

    async def create(self, principal: Principal, *, tool: str, model: str, ask: kinds.Ask,
                     request_id: str | None) -> Job:
        """Hold the price of `ask` and write the job, leased to us, in one transaction."""
        price = self.router.model(model).price
        estimate = kinds.estimate(price, ask)
        kind = kinds.kind_of(ask)
        now = now_ms()
        values: dict[str, Any] = {
            "id": new_id("job"), "owner_id": principal.user_id, "kind": kind, "tool": tool, "model": model,
            "status": "queued", "request": store.encode(ask.as_json()), "price": images.freeze_price(price),
            "estimate": estimate, "hold_id": None, "lease_owner": self.owner, "lease_until": now + self.lease_ms,
            "next_check_at": now, "deadline_at": now + self.config.deadline_seconds * 1000,
            "request_id": request_id, "created_at": now, "updated_at": now,
        }

        async def write_job(conn: Any, res: Any) -> None:
            values["hold_id"] = res.hold_id
            await store.insert(conn, values)

        # The hold outlives the deadline by the reconcile window, so an unknown outcome stays held.
        ttl = self.config.deadline_seconds + self.config.reconcile_seconds + 3600
        await self.meter.reserve(principal, tool=tool, permission=kinds.PERMISSIONS[kind], model=model,
                                 estimate=estimate, request_id=request_id, ttl_seconds=ttl, then=write_job)
        job = await store.get(self.db, values["id"])
        assert job is not None
        return job

    # --- stepping -------------------------------------------------------------------------------

    async def step(self, job: Job) -> Job:
        """Take the job's next step; the caller holds its lease. Returns the job as it now is."""
        async with self._leased(job.id):
            try:
                if job.status == "queued":
                    await self._submit(job)
                elif job.status == "submitting":
                    await self._to_unknown(job, ("submitting",), "submit_interrupted",
                                           "the worker sending this job stopped mid-send")
                elif job.upstream_id is not None:
                    await self._poll(job)
                else:
                    await self._reconcile_unknown(job)
            finally:
                latest = await store.get(self.db, job.id)
                if latest is None or not latest.settled:  # a settled job's lease went with its settlement
                    await store.move(self.db, job.id, self.owner, store.OPEN, lease_owner=None, lease_until=None)
        latest = await store.get(self.db, job.id) if latest is None or not latest.settled else latest
        assert latest is not None
        await self.changed(job.id)
        return latest

    async def _submit(self, job: Job) -> None:
        if not await store.move(self.db, job.id, self.owner, ("queued",), status="submitting",
                                submits=job.submits + 1):
            return
        request = kinds.provider_request(job)

        async def send(provider: Any, route: Route) -> Outcome:
            # Which provider it went to is written before it is sent: an unknown outcome must name it.
            await store.move(self.db, job.id, self.owner, ("submitting",), provider=route.provider,
                             upstream_model=route.upstream)
            outcome: Outcome = await provider.submit(self._with_webhook(request, provider, job.id)
                                                     .for_upstream(route.upstream))
            return outcome

        try:
            answered = await self.router.call(job.model, "image" if job.kind == "image" else "video", send)
        except ProviderOutcomeUnknown as exc:
            await self._to_unknown(job, ("submitting",), exc.code, exc.message)
            return
        except STORE_OUTAGES:  # our store out of reach is no verdict on the job: never failed for it
            await self._interrupted(job)
            raise
        except SmartHubError as exc:  # refused or failed before being accepted: nothing to bill
            await settle.fail(self.db, self.meter, job, code=exc.code, message=exc.message)
            return
        except BaseException:
            await self._interrupted(job)
            raise
        outcome, route = answered.value, answered.route
        if isinstance(outcome, Finished):
            await self.finish(job, outcome, provider=route.provider, upstream=route.upstream)
            return
        await store.move(self.db, job.id, self.owner, ("submitting",), status="running",
                         upstream_id=outcome.upstream_id, upstream_state=store.encode(outcome.state),
                         next_check_at=now_ms() + int(self.config.poll_interval_seconds * 1000),
                         nudged_after=job.updated_at)

    async def _interrupted(self, job: Job) -> None:
        """Cancelled, crashed or cut off from the store mid-send: the provider may have the job.
        Shielded, so a cancelled caller still leaves the job marked for reconciling rather than
        'submitting' (when the store answers; else the lease's recovery finds it)."""
        with contextlib.suppress(Exception):
            await asyncio.shield(self._to_unknown(job, ("submitting",), "submit_interrupted",
                                                  "the call sending this job was interrupted"))

    async def _poll(self, job: Job) -> None:
        entry = self.router.registry.get(job.provider or "")
        if not entry.available:
            await self._reschedule(job, error="provider_unavailable")
            return
        pending = Pending(job.upstream_id or "", job.state_data())
        try:
            outcome = await entry.provider.poll(pending,
                                                kinds.provider_request(job).for_upstream(job.upstream_model or ""))
        except ProviderError as exc:
            if exc.retryable:
                await self._reschedule(job, error=exc.code)
            elif billed_failure(exc):  # the provider billed the failed job: charged once, as asked
                await settle.charge_without_output(self.db, self.meter, job, amount=job.estimate, code=exc.code,
                                                   message=f"{exc.message} (the provider billed it)")
            else:  # the provider says the job failed and did not bill it
                await settle.fail(self.db, self.meter, job, code=exc.code, message=exc.message)
            return
        if isinstance(outcome, Finished):
            await self.finish(job, outcome, provider=job.provider or "", upstream=job.upstream_model or "")
        else:
            progress = outcome.state.get("progress")
            await self._reschedule(job, progress=int(progress) if progress and progress.isdigit() else None)

    async def finish(self, job: Job, outcome: Finished, *, provider: str, upstream: str) -> settle.Outcome:
        """Copy the outputs into storage, then settle: the poller's, the submitter's and a webhook's
        path alike (whoever settles first wins; the others change nothing). The caller announces the
        change (`changed`): a step does at its end."""
        prompt = kinds.ask_of(job).prompt
        meta = MediaMeta(prompt=prompt, model=job.model, provider=provider)
        done = await deliver(self.storage, self.downloads.client(), job_id=job.id, owner_id=job.owner_id,
                             outputs=outcome.outputs, meta=meta, max_bytes=self.config.fetch_max_bytes,
                             allow_private=self.config.fetch_allow_private)
        flags = await self._check_outputs(job, done.stored)
        clean = tuple(item for item, flag in zip(done.stored, flags, strict=True) if flag is None)
        held = [(item, flag) for item, flag in zip(done.stored, flags, strict=True) if flag is not None]
        for index, output in enumerate(outcome.held, start=len(outcome.outputs)):
            kept = await deliver(self.storage, self.downloads.client(), job_id=job.id, owner_id=job.owner_id,
                                 outputs=(output,), meta=meta, max_bytes=self.config.fetch_max_bytes,
                                 first_index=index, allow_private=self.config.fetch_allow_private)
            held.extend((item, Flag("provider", output.flag)) for item in kept.stored)
        delivered = len(clean)
        cost = kinds.cost(job, outcome, delivered)
        # What approving every held output would add: their share of the price of all outputs made.
        prices = images.split(max(0, min(kinds.cost(job, outcome, delivered + len(held)), job.estimate)
                              - min(cost, job.estimate)), len(held)) if held else []
        seconds = whole_seconds(outcome.seconds) if outcome.seconds is not None and delivered else 0
        usage = Usage(cost=cost, provider=provider, upstream_model=upstream,
                      images=delivered if job.kind == "image" else 0, seconds=seconds,
                      input_tokens=outcome.usage.input_tokens if outcome.usage else 0,
                      output_tokens=outcome.usage.output_tokens if outcome.usage else 0)
        result = await settle.succeed(
            self.db, self.meter, self.storage, job, stored=clean,
            flagged=outcome.flagged + len(done.stored) - delivered, lost=done.lost, cost=cost, usage=usage,
            prompt=prompt,
            held=tuple(HeldOutput(item, flag, price) for (item, flag), price in zip(held, prices, strict=True)),
            review_hold_seconds=self.review_hold_seconds)
        if held and result.first and self.moderator is not None:
            await self.moderator.note_held(job.owner_id)
        return result

    async def _check_outputs(self, job: Job, stored: tuple[StoredOutput, ...]) -> list[Flag | None]:
        """Our output check on each delivered output's preview (an image, a video's poster frame)."""
        moderator = self.moderator
        if moderator is None or not stored:
            return [None] * len(stored)

        async def preview(item: StoredOutput) -> tuple[bytes, str] | None:
            if item.preview_key is None:  # a video whose poster frame could not be read: nothing to show
                return None
            return await self.storage.get(item.preview_key), content_type_for(item.preview_key)

        previews = await asyncio.gather(*(preview(item) for item in stored))
        return await moderator.check_outputs(job.owner_id, job.kind, previews)

    def _with_webhook(self, request: MediaRequest, provider: object, job_id: str) -> MediaRequest:
        if self.webhook_base is None or self.webhook_secret is None or not isinstance(provider, WebhookParser):
            return request
        return request.with_webhook(webhook_url(self.webhook_base, self.webhook_secret(), job_id))

    def _give_up_at(self, job: Job) -> int:
        return job.created_at + (self.config.deadline_seconds + self.config.reconcile_seconds) * 1000

    async def _reschedule(self, job: Job, *, progress: int | None = None, error: str | None = None) -> None:
        now = now_ms()
        if now >= self._give_up_at(job):
            await self._reconcile_unknown(job)
            return
        late = now >= job.deadline_at
        interval = self.config.unknown_poll_interval_seconds if late else self.config.poll_interval_seconds
        changes: dict[str, Any] = {"polls": job.polls + 1, "next_check_at": now + int(interval * 1000)}
        if progress is not None:
            changes["progress"] = max(0, min(99, progress))
        if late and job.status == "running":
            changes.update(status="unknown", error_code="deadline_passed",
                           error_message="no result by the deadline; credits stay held while it is reconciled")
        elif error is not None:
            changes["error_code"] = error
        await store.move(self.db, job.id, self.owner, ("running", "unknown"), nudged_after=job.updated_at, **changes)

    async def _to_unknown(self, job: Job, from_status: tuple[str, ...], code: str, message: str) -> None:
        log.warning("job %s: outcome unknown (%s); credits stay held until it is reconciled", job.id, code)
        await store.move(self.db, job.id, self.owner, from_status, status="unknown", error_code=code,
                         error_message=message[:500], next_check_at=self._give_up_at(job))

    async def _reconcile_unknown(self, job: Job) -> None:
        """An unknown job with nothing to poll, past its reconcile window: nobody billed it that we
        can see; end it and give the credits back (an admin may settle it sooner by hand)."""
        give_up = self._give_up_at(job)
        if now_ms() < give_up:
            await store.move(self.db, job.id, self.owner, ("unknown",), next_check_at=give_up)
            return
        await settle.fail(self.db, self.meter, job, code="outcome_never_known",
                          message="the provider never confirmed this job; credits returned",
                          from_status=("running", "unknown"))

    # --- cancelling -----------------------------------------------------------------------------

    async def cancel(self, owner_id: str, job_id: str) -> Job:
        """Stop the owner's job where that is still possible and give back what will not be delivered."""
        job = await store.get_for(self.db, owner_id, job_id)
        if job.settled:
            return job
        if job.status == "queued":
            await settle.fail(self.db, self.meter, job, code="cancelled", message="cancelled before it was sent",
                              status="cancelled", from_status=("queued",))
        elif job.status == "submitting" or job.upstream_id is None:
            raise JobNotCancellable("the job is being sent to the provider; try again in a moment")
        else:
            entry = self.router.registry.get(job.provider or "")
            stopped = entry.available and await entry.provider.cancel(Pending(job.upstream_id, job.state_data()))
            if not stopped:
                raise JobNotCancellable("this provider does not take cancellations once a job has started;"
                                        " you are charged only for what it delivers")
            await settle.fail(self.db, self.meter, job, code="cancelled", message="cancelled at the provider",
                              status="cancelled", from_status=("running", "unknown"))
        await self.changed(job.id)
        return await store.get_for(self.db, owner_id, job_id)

    # --- waiting --------------------------------------------------------------------------------

    async def check_soon(self, job: Job) -> None:
        """The provider said the job moved (kie's callback): read it now instead of at the next poll.
        A step under way (even the submit, if the post beats its answer) keeps this when it ends: its
        job was read before the post, and a check time set after that stands (`store.move`)."""
        if await store.move(self.db, job.id, None, ("submitting", "running", "unknown"), next_check_at=now_ms()):
            await self.changed(job.id)

    async def wait(self, job: Job, seconds: float, progress: Progress | None = None) -> Job:
        """Step the job ourselves while we wait (up to `seconds`), or watch another worker do it.
        The first step runs on the lease `create` took."""
        until = time.monotonic() + seconds
        if job.lease_owner == self.owner and not job.settled:
            job = await self.step(job)
        # An unknown job is checked again only much later (if at all): no use holding the call open.
        while not job.settled and job.status != "unknown" and time.monotonic() < until:
            if progress is not None:
                await progress(job)
            pause = max(0.05, min((job.next_check_at - now_ms()) / 1000, until - time.monotonic()))
            await self._sleep_or_signal(job.id, pause)
            claimed = await store.claim(self.db, job.id, self.owner, self.lease_ms) \
                if job.next_check_at <= now_ms() else None
            latest = await self.step(claimed) if claimed is not None else await store.get(self.db, job.id)
            assert latest is not None
            job = latest
        return job

    async def _sleep_or_signal(self, job_id: str, seconds: float) -> None:
        event = self._changed.setdefault(job_id, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)
        event.clear()

    def _signal(self, job_id: str) -> None:
        event = self._changed.pop(job_id, None)
        if event is not None:
            event.set()

    async def changed(self, job_id: str) -> None:
        """Wake whoever waits on the job here, and tell listening clients (best effort)."""
        self._signal(job_id)
        if self.on_change is not None:
            try:
                await self.on_change(job_id)
            except Exception:  # a notice that cannot go out must not fail the job's step
                log.warning("job %s: change notice failed", job_id, exc_info=True)

    # --- plumbing -------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _leased(self, job_id: str) -> AsyncIterator[None]:
        """Keep our lease on `job_id` alive while a step runs (a submit can take minutes)."""

        async def renew() -> None:
            while True:
                await asyncio.sleep(self.lease_ms / 3000)
                if not await store.renew(self.db, job_id, self.owner, self.lease_ms):
                    return

        keeper = asyncio.create_task(renew(), name=f"lease:{job_id}")
        try:
            yield
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await keeper

    async def aclose(self) -> None:
        await self.downloads.aclose()

