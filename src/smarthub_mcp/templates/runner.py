"""Running templates: render, then one metered chat call, then one analytics row.

Everything that can be refused for free is refused before the meter: visibility (404), the
version, the variables (types, lengths, undeclared or missing ones) and the model's name. Only
then does the meter reserve an upper-bound estimate, run the chat through the providers router,
and capture the exact cost — the same path as the `chat` tool. A batch runs its items with
bounded concurrency; each is its own metered call (its own hold, its own idempotency key), so
one failed item costs nothing and takes nothing from the others.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from smarthub_mcp.billing.meter import Usage
from smarthub_mcp.billing.money import format_credits
from smarthub_mcp.billing.pricing import Pricing
from smarthub_mcp.errors import InternalError, InvalidRequest, SmartHubError, UnknownModel
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.ids import new_id
from smarthub_mcp.providers.base import ChatMessage, ChatRequest, ChatResult
from smarthub_mcp.providers.tokens import estimate_input_tokens
from smarthub_mcp.services import Services
from smarthub_mcp.templates.analytics import RunRecord, record_run
from smarthub_mcp.templates.recent import remember, worth_keeping
from smarthub_mcp.templates.schemas import TemplateSummary, VersionInfo
from smarthub_mcp.templates.store import RUN_PERMISSION, TemplateStore
from smarthub_mcp.templates.variables import render_with

log = logging.getLogger("smarthub.templates")

RUN_TOOL = "run_template"
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


Charge = Callable[..., Awaitable[Any]]
"""`charge(model=, estimate=, work=, tokens=) -> Metered`: the MCP tool layer's `ToolContext.charge`,
or the meter directly (HTTP). `tokens` is what the run counts against the tokens-per-minute limit."""


def _meter_charge(services: Services, principal: Principal, request_id: str) -> Charge:
    async def charge(
        *, model: str | None, estimate: int, work: Callable[[], Awaitable[Any]], tokens: int = 0
    ) -> Any:
        return await services.meter.run(
            principal,
            tool=RUN_TOOL,
            permission=RUN_PERMISSION,
            model=model,
            estimate=estimate,
            work=work,
            request_id=request_id,
            tokens=tokens,
        )

    return charge


def _request_id(request_id: str | None) -> str:
    # The meter keys a hold's idempotency on the request id: never share a placeholder one.
    return request_id if request_id and request_id != "-" else new_id("req")


@dataclass(frozen=True)
class _Prepared:
    template: TemplateSummary
    version: VersionInfo
    model: str
    request: ChatRequest
    estimate: int
    tokens: int  # the input bound plus max_tokens: what the tokens-per-minute limit counts, as for chat
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
    config = services.settings.models.get(name)
    if config is None or config.kind != "chat":
        raise UnknownModel(f"unknown chat model '{name}'", details={"model": name})
    params = template.params
    max_tokens = int(params.get("max_tokens") or config.max_output_tokens)
    request = ChatRequest(
        messages=(ChatMessage(role="user", content=prompt),),
        max_tokens=max(1, min(max_tokens, config.max_output_tokens)),
        temperature=params.get("temperature"),
    )
    input_bound = estimate_input_tokens(request.messages, request.system, name)
    estimate = Pricing(services.settings.models).chat_estimate(name, input_bound, request.max_tokens)
    return _Prepared(template, version, name, request, estimate, input_bound + request.max_tokens,
                     worth_keeping(version.variables, variables))


async def _run_prepared(
    services: Services,
    principal: Principal,
    p: _Prepared,
    *,
    request_id: str,
    batch_id: str | None = None,
    charge: Charge | None = None,
) -> RunResult:
    charge = charge or _meter_charge(services, principal, request_id)
    # A template run is a chat prompt: checked when `[moderation] chat` is on, before any hold.
    await services.moderator.check(principal, "chat", p.request.messages[0].content)
    pricing = Pricing(services.settings.models)
    started = time.perf_counter()
    answered: list[ChatResult] = []

    async def work() -> tuple[ChatResult, Usage]:
        result = await services.router.complete(p.model, p.request)
        answered.append(result)
        cost = pricing.chat_cost(p.model, result.input_tokens, result.output_tokens)
        return result, Usage(
            cost=cost,
            provider=result.provider,
            upstream_model=result.upstream_model,
            input_tokens=result.input_tokens,
            output_tokens=result.output_tokens,
        )

    def record(ok: bool, charged: int = 0, code: str | None = None) -> RunRecord:
        result = answered[0] if answered else None
        return RunRecord(
            template_id=p.template.id,
            version=p.version.version,
            user_id=principal.user_id,
            model=p.model,
            succeeded=ok,
            latency_ms=int((time.perf_counter() - started) * 1000),
            input_tokens=result.input_tokens if result else 0,
            output_tokens=result.output_tokens if result else 0,
            credits=charged,
            error_code=code,
            batch_id=batch_id,
            request_id=request_id,
        )

    try:
        metered = await charge(model=p.model, estimate=p.estimate, work=work, tokens=p.tokens)
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
        model=p.model,
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
    charge: Charge | None = None,
) -> RunResult:
    """Run one template for `principal`: free refusals first, then one metered chat call."""
    principal.require(RUN_PERMISSION)
    request_id = _request_id(request_id)
    template, ver = await TemplateStore(services.db).resolve(principal.user_id, template_id, version)
    prepared = _prepare(services, template, ver, variables, model)
    return await _run_prepared(services, principal, prepared, request_id=request_id, charge=charge)


async def execute_batch(
    services: Services,
    principal: Principal,
    template_id: str,
    items: list[dict[str, Any]],
    *,
    version: int | None = None,
    model: str | None = None,
    request_id: str | None,
    concurrency: int = BATCH_CONCURRENCY,
) -> BatchResult:
    """Run one template over many variable sets; every item is charged (or refused) on its own."""
    principal.require(RUN_PERMISSION)
    request_id = _request_id(request_id)
    if not items:
        raise InvalidRequest("a batch needs at least one item")
    if len(items) > MAX_BATCH:
        raise InvalidRequest(f"a batch has at most {MAX_BATCH} items", details={"max_items": MAX_BATCH})
    template, ver = await TemplateStore(services.db).resolve(principal.user_id, template_id, version)
    batch_id = new_id("tbat")
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(index: int, values: dict[str, Any]) -> BatchItem:
        try:
            if not isinstance(values, dict):
                raise InvalidRequest("each batch item is an object of variables")
            prepared = _prepare(services, template, ver, values, model)
            async with gate:
                # Each item gets its own request id: the meter derives a hold's idempotency key from it.
                result = await _run_prepared(
                    services, principal, prepared, request_id=f"{request_id}:{index}", batch_id=batch_id
                )
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
