"""Template runs as paid work: render, then one chat call (generation/chat.py), then one analytics row.

Everything that can be refused for free is refused before the meter: visibility (404), the
version, the variables (types, lengths, undeclared or missing ones) and the model. Then the run is
a chat call like any other: priced by `price_chat`'s rules, checked, held and settled through the
tool call's charge. Every run, over MCP or HTTP, is a `run_template` call through `registry.invoke`.
A batch runs its items with bounded concurrency, each one such call (its own hold, its own request
id), so one failed item costs nothing and takes nothing from the others.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from smarthub_mcp.billing.money import format_credits
from smarthub_mcp.errors import InternalError, InvalidRequest, SmartHubError, UnknownModel
from smarthub_mcp.generation.chat import Charge, ChatCall, chat_model, priced, run_chat
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.ids import new_id
from smarthub_mcp.providers.base import ChatMessage, ChatRequest, ChatResult
from smarthub_mcp.services import Services
from smarthub_mcp.templates.analytics import RunRecord, record_run
from smarthub_mcp.templates.recent import remember, worth_keeping
from smarthub_mcp.templates.schemas import TemplateSummary, VersionInfo
from smarthub_mcp.templates.store import TemplateStore
from smarthub_mcp.templates.variables import render_with

log = logging.getLogger("smarthub.templates")

MAX_BATCH = 100
BATCH_CONCURRENCY = 5


class RunResult(BaseModel):
    template_id: str
    version: int
    model: str
    output: str
    finish_reason: str
    input_tokens: int
    output_tokens: int
    credits_charged: str
    """Credits taken for this run, as a decimal string."""
    charged_micro: int
    balance: str | None = None
    """What is left afterwards."""


class BatchItem(BaseModel):
    index: int
    ok: bool
    result: RunResult | None = None
    error: dict[str, Any] | None = None
    """`{"code", "message", "details"}` when this item failed; nothing was charged for it."""


class BatchResult(BaseModel):
    batch_id: str
    template_id: str
    succeeded: int
    failed: int
    credits_charged: str
    charged_micro: int
    items: list[BatchItem] = Field(default_factory=list)


batch_var: ContextVar[str | None] = ContextVar("template_batch", default=None)
"""The batch the run in this task belongs to (set by `execute_batch` for each item's call)."""

RunItem = Callable[[dict[str, Any], str], Awaitable[RunResult]]
"""`run_item(variables, request_id)`: one batch item as its own `run_template` call."""


def request_id_for(request_id: str | None) -> str:
    # Usage rows and analytics name the request: never share a placeholder id between runs.
    return request_id if request_id and request_id != "-" else new_id("req")


@dataclass(frozen=True)
class _Prepared:
    template: TemplateSummary
    version: VersionInfo
    call: ChatCall
    recent: dict[str, str] = field(default_factory=dict)  # values to offer back next time (templates/recent.py)


def default_chat_model(services: Services) -> str:
    for name, model in services.settings.models.items():
        if model.kind == "chat" and model.enabled:
            return name
    raise UnknownModel("no chat model is configured")


def _prepare(
    services: Services,
    template: TemplateSummary,
    version: VersionInfo,
    variables: dict[str, Any] | None,
    model: str | None,
) -> _Prepared:
    prompt = render_with(version.body, version.variables, variables)
    name = model or template.default_model or default_chat_model(services)
    config = chat_model(services.router, name)
    params = template.params
    max_tokens = int(params.get("max_tokens") or config.max_output_tokens)
    request = ChatRequest(
        messages=(ChatMessage(role="user", content=prompt),),
        max_tokens=max(1, min(max_tokens, config.max_output_tokens)),
        temperature=params.get("temperature"),
    )
    return _Prepared(template, version, priced(name, config, request), worth_keeping(version.variables, variables))


async def _run_prepared(
    services: Services, principal: Principal, p: _Prepared, charge: Charge, request_id: str
) -> RunResult:
    started = time.perf_counter()
    answered: list[ChatResult] = []

    def record(ok: bool, charged: int = 0, code: str | None = None) -> RunRecord:
        result = answered[0] if answered else None
        return RunRecord(
            template_id=p.template.id,
            version=p.version.version,
            user_id=principal.user_id,
            model=p.call.model,
            succeeded=ok,
            latency_ms=int((time.perf_counter() - started) * 1000),
            input_tokens=result.input_tokens if result else 0,
            output_tokens=result.output_tokens if result else 0,
            credits=charged,
            error_code=code,
            batch_id=batch_var.get(),
            request_id=request_id,
        )

    try:
        metered = await run_chat(services, principal, p.call, charge, answered=answered)
    except SmartHubError as exc:
        # Refusals before the provider (no credits, rate limit) are not runs; provider failures are.
        if answered or exc.code.startswith("provider"):
            await record_run(services.db, record(False, code=exc.code))
        raise
    await record_run(services.db, record(True, metered.charged))
    await remember(services.db, principal.user_id, p.template.id, p.recent)
    chat = metered.result
    return RunResult(
        template_id=p.template.id,
        version=p.version.version,
        model=p.call.model,
        output=chat.text,
        finish_reason=chat.finish_reason,
        input_tokens=chat.input_tokens,
        output_tokens=chat.output_tokens,
        credits_charged=format_credits(metered.charged),
        charged_micro=metered.charged,
        balance=format_credits(metered.balance) if metered.balance is not None else None,
    )


async def execute(
    services: Services,
    principal: Principal,
    template_id: str,
    variables: dict[str, Any] | None = None,
    *,
    version: int | None = None,
    model: str | None = None,
    request_id: str | None,
    charge: Charge,
) -> RunResult:
    """Run one template for `principal` (who may: `registry.invoke` checked), free refusals first,
    then one chat call under `charge`."""
    request_id = request_id_for(request_id)
    template, ver = await TemplateStore(services.db).resolve(principal.user_id, template_id, version)
    prepared = _prepare(services, template, ver, variables, model)
    return await _run_prepared(services, principal, prepared, charge, request_id)


async def execute_batch(
    services: Services,
    principal: Principal,
    template_id: str,
    items: list[dict[str, Any]],
    *,
    version: int | None = None,
    request_id: str | None,
    run_item: RunItem,
    concurrency: int = BATCH_CONCURRENCY,
) -> BatchResult:
    """Run one template over many variable sets; every item is its own call (`run_item`), charged
    or refused on its own. A template the caller cannot see refuses the whole batch."""
    request_id = request_id_for(request_id)
    if not items:
        raise InvalidRequest("a batch needs at least one item")
    if len(items) > MAX_BATCH:
        raise InvalidRequest(f"a batch has at most {MAX_BATCH} items", details={"max_items": MAX_BATCH})
    template, _ = await TemplateStore(services.db).resolve(principal.user_id, template_id, version)
    batch_id = new_id("tbat")
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(index: int, values: dict[str, Any]) -> BatchItem:
        try:
            if not isinstance(values, dict):
                raise InvalidRequest("each batch item is an object of variables")
            async with gate:
                batch_var.set(batch_id)  # this item's task only: its run's analytics row names the batch
                result = await run_item(values, f"{request_id}:{index}")
        except SmartHubError as exc:
            return BatchItem(index=index, ok=False, error=exc.to_dict()["error"])
        except Exception:  # one item's surprise must not sink the other items' results
            log.exception("template batch item failed unexpectedly")
            return BatchItem(index=index, ok=False, error=InternalError().to_dict()["error"])
        return BatchItem(index=index, ok=True, result=result)

    results = await asyncio.gather(*(one(i, values) for i, values in enumerate(items)))
    charged = sum(item.result.charged_micro for item in results if item.result is not None)
    ok = sum(1 for item in results if item.ok)
    return BatchResult(
        batch_id=batch_id,
        template_id=template.id,
        succeeded=ok,
        failed=len(results) - ok,
        credits_charged=format_credits(charged),
        charged_micro=charged,
        items=list(results),
    )
