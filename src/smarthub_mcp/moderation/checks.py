"""Prompt checks, run before any credit is held: the configured block list, then OpenAI's moderation
endpoint (`omni-moderation-latest`, through the `openai` SDK) when a provider key is configured.

    await moderator.check(principal, "image", prompt)   # PromptRefused / ModerationUnavailable, or passes

Images and video are always checked; chat and template prompts when `[moderation] chat` is on. A
refusal names its category and is recorded (moderation_events) without the prompt. The user's policy
(moderation/policy.py) comes first: a suspended user is refused, an exempt one is not checked; a
role may have tighter thresholds (`role_thresholds`). Generated images (a video's poster frame) go
through the endpoint too (`check_outputs`): a flag holds the output for review (jobs/reviews.py). When the endpoint
cannot answer, image and video prompts are refused (`media_fail = "closed"`, the default) and chat
prompts pass with a warning logged (`chat_fail = "open"`); `/readyz` says which in its details.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from smarthub_mcp.config import ModerationConfig, ProviderConfig
from smarthub_mcp.db import Database
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.moderation import policy
from smarthub_mcp.moderation.errors import GenerationSuspended, ModerationUnavailable, PromptRefused
from smarthub_mcp.moderation.records import record
from smarthub_mcp.tls import client_tls

log = logging.getLogger("smarthub.moderation")
MAX_CHECKED_CHARS = 20_000


def compile_block_list(block_list: dict[str, list[str]]) -> list[tuple[str, re.Pattern[str]]]:
    """(category, pattern) pairs: `/regex/` as written, anything else as a whole word or phrase, any case."""
    compiled = []
    for category, entries in block_list.items():
        for entry in entries:
            if len(entry) > 2 and entry.startswith("/") and entry.endswith("/"):
                compiled.append((category, re.compile(entry[1:-1], re.IGNORECASE)))
            elif entry.strip():
                compiled.append((category, re.compile(rf"(?<!\w){re.escape(entry.strip())}(?!\w)", re.IGNORECASE)))
    return compiled


@dataclass(frozen=True, slots=True)
class Flag:
    """Why an output is held: `source` is provider, moderation or unavailable."""

    source: str
    category: str | None


def thresholds_for(thresholds: Mapping[str, float], role: str,
                   *role_tables: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """The thresholds a role's users are held to: the lowest of the global one and the role's in each
    table (the config's `role_thresholds`, the admins'), per category."""
    merged = dict(thresholds)
    for table in role_tables:
        for category, limit in table.get(role, {}).items():
            merged[category] = min(limit, merged.get(category, limit))
    return merged


def refusing_category(scores: Mapping[str, Any], flags: Mapping[str, Any],
                      thresholds: Mapping[str, float]) -> str | None:
    """The first category over its threshold (or flagged by the endpoint when it has none)."""
    for category, flagged in flags.items():
        limit = thresholds.get(category)
        score = scores.get(category)
        if limit is not None and isinstance(score, int | float):
            if score >= limit:
                return category
        elif flagged is True:
            return category
    for category, limit in thresholds.items():  # thresholds on categories the flags omit
        score = scores.get(category)
        if isinstance(score, int | float) and score >= limit:
            return category
    return None


class Moderator:
    def __init__(self, config: ModerationConfig, db: Database, providers: Mapping[str, ProviderConfig],
                 environ: Mapping[str, str]) -> None:
        self.config = config
        self.db = db
        self.blocked = compile_block_list(config.block_list)
        self.role_thresholds = policy.RoleThresholds(db)
        """What admins set per role at run time (`PUT /api/v1/admin/moderation/roles/{role}`)."""
        self._client: Any = None
        provider = providers.get(config.openai_provider) if config.openai_provider else None
        key = environ.get(provider.api_key_env) if provider is not None and provider.api_key_env else None
        self._endpoint = (provider.base_url, key) if provider is not None and key else None

    @property
    def uses_endpoint(self) -> bool:
        return self._endpoint is not None

    def describe(self) -> dict[str, str]:
        """For /readyz: what is checked, and what happens when the endpoint is down."""
        if not self.config.enabled:
            return {"moderation": "off"}
        checks = "block list" + (f" + {self.config.model}" if self.uses_endpoint else "")
        return {"moderation": checks, "moderation_when_down": f"media fail {self.config.media_fail}, chat fail"
                f" {self.config.chat_fail}" if self.uses_endpoint else "n/a"}

    def _openai(self) -> Any:
        if self._client is None:
            from openai import (  # loaded when first used, like the chat adapter's SDK
                AsyncOpenAI,
                DefaultAsyncHttpxClient,
            )

            base_url, key = self._endpoint or (None, None)
            self._client = AsyncOpenAI(api_key=key, base_url=base_url, max_retries=0,
                                       timeout=self.config.timeout_seconds,
                                       http_client=DefaultAsyncHttpxClient(verify=client_tls()))
        return self._client

    def applies_to(self, kind: str) -> bool:
        """Whether prompts of `kind` are checked at all (lets a hot path skip building the text)."""
        return self.config.enabled and (kind != "chat" or self.config.chat)

    async def check(self, principal: Principal, kind: str, text: str) -> None:
        """Pass, or raise PromptRefused / ModerationUnavailable / GenerationSuspended (nothing has
        been held yet)."""
        if not self.applies_to(kind):
            return
        user = await policy.get(self.db, principal.user_id)
        if user.suspended:
            raise GenerationSuspended("generation is suspended for this account; contact the operator")
        if user.exempt:
            return
        text = text[:MAX_CHECKED_CHARS]
        for category, pattern in self.blocked:
            if pattern.search(text):
                await self._refuse(principal, kind, "block_list", category)
        if self._endpoint is None:
            return
        try:
            scores, flags = await self._ask(text)
        except Exception as exc:  # the SDK's errors, a timeout, an odd answer: the endpoint did not answer
            fails_closed = (self.config.chat_fail if kind == "chat" else self.config.media_fail) == "closed"
            log.warning("moderation endpoint unavailable (%s); %s prompt %s", type(exc).__name__, kind,
                        "refused" if fails_closed else "let through unchecked")
            await record(self.db, user_id=principal.user_id, kind=kind,
                         decision="refused" if fails_closed else "unchecked", source="unavailable", category=None)
            if fails_closed:
                raise ModerationUnavailable("the content check is unavailable; try again shortly") from None
            return
        refused = refusing_category(scores, flags, await self.thresholds(principal.role))
        if refused is not None:
            await self._refuse(principal, kind, "moderation", refused)

    async def check_outputs(
        self, user_id: str, kind: str, previews: Sequence[tuple[bytes, str] | None]
    ) -> list[Flag | None]:
        """A job's generated images (or a video's poster frame), each `(preview, content type)`,
        through the endpoint at once: per output, the Flag that holds it for review, or None to
        deliver it (None for an output with no preview). Nothing to ask (no endpoint, outputs off,
        an exempt user): all None. The endpoint down: held when media fail closed (a `unavailable`
        flag), else delivered. The user's role and exemption are read once for the whole job."""
        if not (self.config.enabled and self.config.outputs and self._endpoint is not None) or not any(previews):
            return [None] * len(previews)
        role, exempt = await policy.role_and_exemption(self.db, user_id)
        if exempt:
            return [None] * len(previews)
        thresholds = await self.thresholds(role)
        return list(await asyncio.gather(*(self._check_output(kind, preview, thresholds) for preview in previews)))

    async def _check_output(
        self, kind: str, preview: tuple[bytes, str] | None, thresholds: dict[str, float]
    ) -> Flag | None:
        if preview is None:
            return None
        data, content_type = preview
        url = f"data:{content_type};base64,{base64.b64encode(data).decode()}"
        image = {"type": "image_url", "image_url": {"url": url}}
        try:
            scores, flags = await self._ask([image])
        except Exception as exc:
            log.warning("moderation endpoint unavailable (%s) for a %s output; %s", type(exc).__name__, kind,
                        "held for review" if self.config.media_fail == "closed" else "delivered unchecked")
            return Flag("unavailable", None) if self.config.media_fail == "closed" else None
        category = refusing_category(scores, flags, thresholds)
        return Flag("moderation", category) if category is not None else None

    async def note_held(self, user_id: str) -> None:
        """An output of this user was held: they may now be a repeat offender."""
        await self._note_trip(user_id)

    async def thresholds(self, role: str | None) -> dict[str, float]:
        """The thresholds `role`'s users are held to now."""
        return thresholds_for(self.config.thresholds, role or "", self.config.role_thresholds,
                              await self.role_thresholds.all())

    async def _ask(self, content: str | list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
        answer = await asyncio.wait_for(
            self._openai().moderations.create(model=self.config.model, input=content),
            self.config.timeout_seconds)
        result = answer.results[0]
        return result.category_scores.model_dump(by_alias=True), result.categories.model_dump(by_alias=True)

    async def _note_trip(self, user_id: str) -> None:
        try:
            if await policy.note_trip(self.db, user_id, threshold=self.config.repeat_offender_trips,
                                      days=self.config.repeat_offender_days):
                log.warning("user %s flagged for review: tripped the content checks %d times in %d days", user_id,
                            self.config.repeat_offender_trips, self.config.repeat_offender_days)
        except Exception:  # the flag is advisory: never let it turn a refusal into a 500
            log.exception("could not update the repeat-offender flag of %s", user_id)

    async def _refuse(self, principal: Principal, kind: str, source: str, category: str) -> None:
        await record(self.db, user_id=principal.user_id, kind=kind, decision="refused", source=source,
                     category=category)
        await self._note_trip(principal.user_id)
        raise PromptRefused(f"this prompt is refused under this server's content policy ({category})",
                            details={"category": category, "source": source})

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
