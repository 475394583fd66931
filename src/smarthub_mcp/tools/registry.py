"""The tool registry: each tool is written once, as a plain async function, and described here.

`@tool(...)` records a `ToolSpec`; the MCP binding (`tools/binding.py`) and the HTTP facade
(`api/tools.py`) both serve every spec through `invoke`, so permission checks, rate limits,
metering and error mapping are the same on both paths. A tool function takes a `ToolContext`
first and its typed arguments after; it returns a Pydantic model (the structured result). A
paid tool calls `tc.charge(...)` exactly once around the work that costs money.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from mcp.types import LoggingLevel, ToolAnnotations
from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError, create_model

from smarthub_mcp.billing.meter import Metered, Usage
from smarthub_mcp.billing.money import credits_for_people, format_credits
from smarthub_mcp.dbfaults import outage_of
from smarthub_mcp.errors import InternalError, InvalidRequest, SmartHubError
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.providers.base import Attempt, ChatResult
from smarthub_mcp.safetext import refuse_flawed
from smarthub_mcp.services import Services

log = logging.getLogger("smarthub.tools")

R = TypeVar("R", bound=BaseModel)
T = TypeVar("T")

ProgressFn = Callable[[float, float | None, str | None], Awaitable[None]]
LogFn = Callable[[LoggingLevel, str, dict[str, Any]], Awaitable[None]]
"""`(level, logger name, data)`: a log notification to the MCP client, filtered to its chosen level."""

READ_ONLY = ToolAnnotations(readOnlyHint=True, destructiveHint=False, idempotentHint=True, openWorldHint=False)
"""Reads the caller's own data; safe to repeat."""
PAID_GENERATION = ToolAnnotations(readOnlyHint=False, destructiveHint=False, idempotentHint=False, openWorldHint=True)
"""Calls an outside AI provider and spends credits; each call is charged."""
ACCOUNT_CHANGE = ToolAnnotations(readOnlyHint=False, destructiveHint=False, idempotentHint=True, openWorldHint=False)
"""Changes the caller's account in a way that is safe to repeat (e.g. redeeming a code once)."""


@dataclass
class ToolContext:
    """What a tool function sees besides its arguments."""

    services: Services
    principal: Principal
    tool: str
    permission: str
    request_id: str
    progress: ProgressFn | None = None
    client_log: LogFn | None = None
    wait_seconds: float | None = None
    """How long a job-backed tool may wait for its result; None: the configured default for MCP."""
    charged: list[Any] = field(default_factory=list)

    async def report(self, done: float, total: float | None = None, message: str | None = None) -> None:
        """Progress for clients that asked for it; a no-op elsewhere."""
        if self.progress is not None:
            await self.progress(done, total, message)

    async def charge(
        self,
        *,
        model: str | None,
        estimate: int,
        work: Callable[[], Awaitable[tuple[T, Any]]],
        tokens: int = 0,
        delivered: Callable[[], Usage] | None = None,
    ) -> Any:
        """Run `work` under a credit hold of `estimate` micro-credits and settle it exactly.

        `work` returns `(value, usage)`; the meter captures `usage.cost` and releases the rest, or
        releases everything when `work` raises. Returns the meter's `Metered` record.
        """
        meter = self.services.meter
        metered = await meter.run(
            self.principal,
            tool=self.tool,
            model=model,  # no permission: `invoke` checked it
            estimate=estimate,
            work=work,
            request_id=self.request_id,
            tokens=tokens,
            delivered=delivered,
        )
        await self.recorded(metered, model)
        return metered

    async def recorded(self, metered: Metered[Any], model: str | None) -> None:
        """Count a settled charge as this call's (a job settles through its own engine, not `charge`)."""
        self.charged.append(metered)
        if self.client_log is not None:  # a fallback (warning), then the charge (info), for a client that listens
            result = metered.result
            if isinstance(result, ChatResult) and (failed := [a for a in result.attempts if not a.ok]):
                await self.client_log("warning", "smarthub.providers", fallback_data(model, result, failed))
            await self.client_log("info", "smarthub.billing", charge_data(self.tool, model, metered, self.request_id))


def charge_data(tool: str, model: str | None, metered: Any, request_id: str) -> dict[str, Any]:
    """What one settled call cost: tool, model, credits charged and the balance left."""
    data: dict[str, Any] = {
        "message": f"{tool} on {model or '-'}: charged {credits_for_people(metered.charged)}",
        "tool": tool, "model": model, "credits_charged": format_credits(metered.charged), "request_id": request_id,
    }
    if metered.balance is not None:
        data["balance"] = format_credits(metered.balance)
    return data


def fallback_data(model: str | None, result: ChatResult, failed: list[Attempt]) -> dict[str, Any]:
    """Which routes failed (provider, upstream model, our error code, the upstream HTTP status)
    and which answered: no provider body, no key."""
    routes = [
        {"provider": a.provider, "upstream_model": a.upstream, "error_code": a.error_code,
         "upstream_status": a.upstream_status}
        for a in failed
    ]
    named = ", ".join(f"{r['provider']} ({r['error_code']}"
                      + (f", HTTP {r['upstream_status']})" if r["upstream_status"] else ")") for r in routes)
    return {
        "message": f"model {model}: {named} failed; answered by {result.provider} after fallback",
        "model": model, "failed": routes,
        "answered_by": {"provider": result.provider, "upstream_model": result.upstream_model},
    }


class InlineImages(BaseModel):
    """A result that also carries small images for MCP clients that show them (image content
    blocks beside the text). They are not part of the structured result: links are, since some
    hosts (ChatGPT) drop image blocks."""

    _inline: list[tuple[bytes, str]] = PrivateAttr(default_factory=list)

    def inline_images(self) -> list[tuple[bytes, str]]:
        return list(self._inline)

    def attach(self, data: bytes, content_type: str) -> None:
        self._inline.append((data, content_type))


@dataclass(frozen=True)
class ToolSpec:
    name: str
    title: str
    description: str
    permission: str
    paid: bool
    annotations: ToolAnnotations
    fn: Callable[..., Awaitable[BaseModel]]
    result_type: type[BaseModel]
    arguments: type[BaseModel]
    summarize: Callable[[Any], str]

    def parameters(self) -> tuple[inspect.Parameter, ...]:
        """The function's parameters after the ToolContext, with annotations evaluated."""
        return _parameters(self.fn)


@functools.cache
def _parameters(fn: Callable[..., Any]) -> tuple[inspect.Parameter, ...]:
    # Once per function: evaluating the annotations costs a few ms a tool, and every app built
    # (each replica, each test) binds every tool.
    return tuple(inspect.signature(fn, eval_str=True).parameters.values())[1:]


class _Arguments(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _arguments_model(name: str, fn: Callable[..., Any]) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for param in _parameters(fn):
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (param.annotation, default)
    model_name = "".join(part.capitalize() for part in name.split("_")) + "Arguments"
    return create_model(model_name, __base__=_Arguments, **fields)


def tool(
    *,
    name: str,
    title: str,
    permission: str,
    paid: bool,
    annotations: ToolAnnotations,
    summarize: Callable[[Any], str],
) -> Callable[[Callable[..., Awaitable[R]]], ToolSpec]:
    """Describe a tool: the decorated name becomes its `ToolSpec` (served once listed in
    `tools/catalog.py`). The function's docstring is its description (written for a model)."""

    def describe(fn: Callable[..., Awaitable[R]]) -> ToolSpec:
        result_type = inspect.signature(fn, eval_str=True).return_annotation
        if not (inspect.isclass(result_type) and issubclass(result_type, BaseModel)):
            raise TypeError(f"tool {name} must return a Pydantic model")
        return ToolSpec(
            name=name,
            title=title,
            description=inspect.cleandoc(fn.__doc__ or ""),
            permission=permission,
            paid=paid,
            annotations=annotations,
            fn=fn,
            result_type=result_type,
            arguments=_arguments_model(name, fn),
            summarize=summarize,
        )

    return describe


def validate_arguments(spec: ToolSpec, raw: Any) -> dict[str, Any]:
    """Check raw JSON arguments against the tool's signature (the HTTP facade's path)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidRequest("tool arguments must be a JSON object")
    try:
        parsed = spec.arguments.model_validate(raw)
    except ValidationError as exc:
        problems = [
            {"field": ".".join(str(p) for p in err["loc"]) or "(root)", "problem": err["msg"]} for err in exc.errors()
        ]
        named = "; ".join(f"{p['field']}: {p['problem']}" for p in problems[:5])
        raise InvalidRequest(f"invalid tool arguments: {named}"[:500], details={"errors": problems}) from None
    return {name: getattr(parsed, name) for name in spec.arguments.model_fields}


async def invoke(
    spec: ToolSpec,
    services: Services,
    principal: Principal,
    arguments: dict[str, Any],
    *,
    request_id: str,
    progress: ProgressFn | None = None,
    client_log: LogFn | None = None,
    wait_seconds: float | None = None,
) -> BaseModel:
    """Run one tool call for `principal`: the single path behind MCP and HTTP alike.

    Permission is checked first, and only here (a hidden tool is refused before anything else;
    transports leave it to this check and the meter does not repeat it), then arguments
    holding text nothing downstream can take (NUL, lone surrogates: `safetext`). Free tools go
    through the meter with a zero estimate, so they are still authorized and rate limited; paid
    tools call `tc.charge` themselves because only they know the estimate for their arguments.
    """
    started = time.perf_counter()
    outcome = "ok"
    try:
        return (await _invoke(spec, services, principal, arguments, request_id, progress, client_log,
                              wait_seconds))[0]
    except SmartHubError as exc:
        outcome = exc.code
        raise
    except BaseException:
        outcome = "internal_error"
        raise
    finally:
        # Credits are counted by the meter when a reservation settles (here or in a job later).
        services.metrics.observe(spec.name, outcome, time.perf_counter() - started)


async def _invoke(
    spec: ToolSpec,
    services: Services,
    principal: Principal,
    arguments: dict[str, Any],
    request_id: str,
    progress: ProgressFn | None,
    client_log: LogFn | None = None,
    wait_seconds: float | None = None,
) -> tuple[BaseModel, int]:
    principal.require(spec.permission)
    # Here, not in each tool: every call (MCP, the HTTP facade, /v1) passes, after the SDK or
    # `validate_arguments` has checked the types, and before any tool reaches the database.
    refuse_flawed(arguments, "the tool arguments")
    tc = ToolContext(services, principal, spec.name, spec.permission, request_id, progress, client_log,
                     wait_seconds)
    if spec.paid:
        result = await spec.fn(tc, **arguments)
        if not tc.charged:
            log.error("paid tool %s returned without charging", spec.name)
            raise InternalError()
        return result, sum(m.charged for m in tc.charged)

    async def work() -> tuple[BaseModel, Any]:
        return await spec.fn(tc, **arguments), Usage()

    metered = await services.meter.run(
        principal,
        tool=spec.name,
        model=None,  # no permission: checked above
        estimate=0,
        work=work,
        request_id=request_id,
    )
    return metered.result, 0


def error_payload(exc: BaseException) -> SmartHubError:
    """What a caller may see of an exception: our own errors as they are, anything else as internal."""
    if isinstance(exc, SmartHubError):
        return exc
    outage = outage_of(exc)  # the database went away mid-call: a 503 to retry, not a fault
    if outage is not None:
        return outage
    log.error("tool failed unexpectedly", exc_info=exc)
    return InternalError()
