"""A chat call as paid work: build the request, price it for one model, run it under a charge.

    request = build_request(prompt, messages, system, max_tokens, temperature)
    call = price_chat(services.router, model, request)      # the model looked up once; free refusals
    metered = await run_chat(services, principal, call, tc.charge, on_text=...)

`price_chat` refuses for free what can be refused before a hold (an unknown, disabled or non-chat
model, `max_tokens` above the model's cap) and bounds the cost. `run_chat` checks the prompt when
chat moderation is on, then runs the router (streaming when someone listens for the text) inside
`charge`, which is the tool call's `ToolContext.charge`: the meter path `registry.invoke` gives
every tool, so the chat tool, `/v1` and template runs are priced and metered alike.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from smarthub_mcp.billing import pricing
from smarthub_mcp.billing.meter import Metered, Usage
from smarthub_mcp.config import ModelConfig
from smarthub_mcp.errors import InvalidRequest, UnknownModel, unknown_model
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.providers.base import ChatMessage, ChatRequest, ChatResult
from smarthub_mcp.providers.router import RouteDelta, Router
from smarthub_mcp.providers.tokens import count_text_tokens, estimate_input_tokens
from smarthub_mcp.services import Services

Charge = Callable[..., Awaitable[Metered[Any]]]
"""`charge(model=, estimate=, work=, tokens=, delivered=) -> Metered`: `ToolContext.charge`."""
OnText = Callable[[int, str], Awaitable[None]]
"""`(pieces so far, this piece)`: streamed text on its way to the caller."""


class Turn(Protocol):
    @property
    def role(self) -> str: ...

    @property
    def content(self) -> str: ...


def build_request(
    prompt: str | None, messages: Iterable[Turn] | None, system: str | None, max_tokens: int,
    temperature: float | None,
) -> ChatRequest:
    """A conversation (oldest first) and/or a prompt as one request whose last turn is the user's."""
    turns: list[ChatMessage] = [ChatMessage(m.role, m.content) for m in messages or ()]  # type: ignore[arg-type]
    if prompt:
        turns.append(ChatMessage("user", prompt))
    if not turns:
        raise InvalidRequest("give a `prompt` or a non-empty list of `messages`")
    if turns[-1].role != "user":
        raise InvalidRequest("the last message must be the user's")
    return ChatRequest(messages=tuple(turns), system=system, max_tokens=max_tokens, temperature=temperature)


def chat_model(router: Router, name: str) -> ModelConfig:
    """The chat model called `name`, or UnknownModel (also for a disabled one: it cannot answer)."""
    config = router.model(name)
    if config.kind != "chat":
        raise UnknownModel(f"{name} is not a chat model", details={"model": name})
    if not config.enabled:
        raise unknown_model(name, router.settings.models)
    return config


@dataclass(frozen=True, slots=True)
class ChatCall:
    """A chat request priced for its model: what the meter holds and the rate limits count."""

    model: str
    config: ModelConfig
    request: ChatRequest
    input_bound: int
    """An upper bound of the input tokens, counted with the first route's tokenizer."""
    estimate: int
    """What the hold takes: the input bound and the whole `max_tokens`, at the model's price."""

    @property
    def tokens(self) -> int:
        """What the call counts against the tokens-per-minute limit."""
        return self.input_bound + self.request.max_tokens

    def words(self) -> str:
        """The text moderation reads: the system instructions and every turn."""
        turns = [m.content for m in self.request.messages]
        return "\n".join([self.request.system, *turns] if self.request.system else turns)

    def usage(self, result: ChatResult) -> Usage:
        """The exact charge for what the provider reported."""
        return Usage(
            cost=pricing.chat_cost(self.config.price, result.input_tokens, result.output_tokens),
            provider=result.provider,
            upstream_model=result.upstream_model,
            input_tokens=result.input_tokens,
            output_tokens=result.output_tokens,
        )

    def delivered(self, produced: list[RouteDelta]) -> Usage:
        """What a streamed call that breaks off (a client that reads and hangs up) still pays for:
        the input, and the output produced so far, both counted as upper bounds."""
        if not produced:
            return Usage()
        route = produced[0]  # a stream's text all comes from one route
        output = count_text_tokens("".join(piece.text for piece in produced), route.upstream)
        return Usage(cost=pricing.chat_cost(self.config.price, self.input_bound, output), provider=route.provider,
                     upstream_model=route.upstream, input_tokens=self.input_bound, output_tokens=output)


def price_chat(router: Router, model: str, request: ChatRequest) -> ChatCall:
    """Price `request` on `model`, refusing (for free) what the model cannot take."""
    return priced(model, chat_model(router, model), request)


def priced(model: str, config: ModelConfig, request: ChatRequest) -> ChatCall:
    """`price_chat` for a model already looked up (`chat_model`)."""
    if request.max_tokens > config.max_output_tokens:
        raise InvalidRequest(
            f"max_tokens is at most {config.max_output_tokens} for {model}",
            details={"max_tokens": config.max_output_tokens},
        )
    input_bound = estimate_input_tokens(request.messages, request.system, config.routes[0].upstream)
    estimate = pricing.chat_estimate(config.price, input_bound, request.max_tokens)
    return ChatCall(model, config, request, input_bound, estimate)


async def run_chat(
    services: Services,
    principal: Principal,
    call: ChatCall,
    charge: Charge,
    *,
    on_text: OnText | None = None,
    answered: list[ChatResult] | None = None,
) -> Metered[ChatResult]:
    """Check the prompt, then reserve, run the router (streaming into `on_text` when given) and settle.

    `answered` receives the router's result as soon as it comes, even when settling it then fails."""
    router = services.router
    produced: list[RouteDelta] = []  # streamed pieces, already on their way to the caller

    async def work() -> tuple[ChatResult, Usage]:
        if on_text is None:
            result = await router.complete(call.model, call.request)
        else:

            async def on_delta(piece: RouteDelta) -> None:
                produced.append(piece)
                await on_text(len(produced), piece.text)

            result = await router.stream_to(call.model, call.request, on_delta)
        if answered is not None:
            answered.append(result)
        return result, call.usage(result)

    # Checked only when `[moderation] chat` is on; before the hold either way.
    if services.moderator.applies_to("chat"):  # off by default: the metered hot path joins no text then
        await services.moderator.check(principal, "chat", call.words())
    metered: Metered[ChatResult] = await charge(
        model=call.model, estimate=call.estimate, work=work, tokens=call.tokens,
        delivered=lambda: call.delivered(produced),
    )
    return metered
