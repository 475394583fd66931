"""The `chat` tool: one conversation turn with any configured chat model, charged by the token."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from smarthub_mcp.billing import pricing
from smarthub_mcp.billing.meter import Metered, Usage
from smarthub_mcp.billing.money import format_credits
from smarthub_mcp.errors import InvalidRequest, UnknownModel
from smarthub_mcp.providers.base import ChatMessage, ChatRequest, ChatResult
from smarthub_mcp.providers.router import RouteDelta
from smarthub_mcp.providers.tokens import count_text_tokens, estimate_input_tokens
from smarthub_mcp.tools.registry import PAID_GENERATION, ToolContext, tool

MAX_PROMPT_CHARS = 400_000
MAX_MESSAGES = 500


class Message(BaseModel):
    role: Literal["user", "assistant"] = Field(description="Who said it.")
    content: str = Field(max_length=MAX_PROMPT_CHARS, description="What was said.")


class ChatOutput(BaseModel):
    text: str = Field(description="The model's answer.")
    model: str = Field(description="The public model name that was asked.")
    provider: str = Field(description="The provider that answered.")
    upstream_model: str = Field(description="The provider's own model name.")
    finish_reason: str = Field(description="Why the answer ended: stop, length, content_filter, interrupted...")
    input_tokens: int
    output_tokens: int
    credits_charged: str = Field(description="Credits charged for this call, as a decimal string.")
    balance: str | None = Field(description="Credits left after this call, as a decimal string.")


def people(credits: str) -> str:
    """ "0.001200" -> "0.0012 credits" """
    return f"{credits.rstrip('0').rstrip('.') or '0'} credits"


def _summary(out: ChatOutput) -> str:
    tokens = f"{out.input_tokens}+{out.output_tokens} tokens"
    return f"{out.text}\n\n({out.model} via {out.provider}; {tokens}; charged {people(out.credits_charged)})"


def build_request(
    prompt: str | None, messages: list[Message] | None, system: str | None, max_tokens: int, temperature: float | None
) -> ChatRequest:
    turns: list[ChatMessage] = [ChatMessage(m.role, m.content) for m in messages or []]
    if prompt:
        turns.append(ChatMessage("user", prompt))
    if not turns:
        raise InvalidRequest("give a `prompt` or a non-empty list of `messages`")
    if turns[-1].role != "user":
        raise InvalidRequest("the last message must be the user's")
    return ChatRequest(messages=tuple(turns), system=system, max_tokens=max_tokens, temperature=temperature)


async def run_chat(tc: ToolContext, model: str, request: ChatRequest) -> tuple[ChatResult, Metered[ChatResult]]:
    """Reserve, call the router (streaming when the client listens for progress), settle.

    Returns the router's result and the meter's record. Shared by `chat` and template runs.
    """
    services = tc.services
    config = services.router.model(model)
    if config.kind != "chat":
        raise UnknownModel(f"{model} is not a chat model", details={"model": model})
    if request.max_tokens > config.max_output_tokens:
        raise InvalidRequest(
            f"max_tokens is at most {config.max_output_tokens} for {model}",
            details={"max_tokens": config.max_output_tokens},
        )
    upstream = config.routes[0].upstream
    input_estimate = estimate_input_tokens(list(request.messages), request.system, upstream)
    estimate = pricing.chat_estimate(config.price, input_estimate, request.max_tokens)

    produced: list[RouteDelta] = []  # streamed pieces, already on their way to the client

    def delivered() -> Usage:
        """What a streamed call that breaks off (a client that reads and hangs up) still pays for:
        the input, and the output produced so far, both counted as upper bounds."""
        if not produced:
            return Usage()
        route = produced[0]  # a stream's text all comes from one route
        output = count_text_tokens("".join(piece.text for piece in produced), route.upstream)
        return Usage(cost=pricing.chat_cost(config.price, input_estimate, output), provider=route.provider,
                     upstream_model=route.upstream, input_tokens=input_estimate, output_tokens=output)

    async def work() -> tuple[ChatResult, Usage]:
        if tc.progress is None:
            result = await services.router.complete(model, request)
        else:

            async def on_delta(piece: RouteDelta) -> None:
                produced.append(piece)
                await tc.report(len(produced), None, piece.text)

            result = await services.router.stream_to(model, request, on_delta)
        usage = Usage(
            cost=pricing.chat_cost(config.price, result.input_tokens, result.output_tokens),
            provider=result.provider,
            upstream_model=result.upstream_model,
            input_tokens=result.input_tokens,
            output_tokens=result.output_tokens,
        )
        return result, usage

    # Chat is checked only when `[moderation] chat` is on; before the hold either way.
    if services.moderator.applies_to("chat"):  # off by default: the metered hot path joins no text then
        words = "\n".join([request.system or "", *(m.content for m in request.messages)])
        await services.moderator.check(tc.principal, "chat", words)
    metered = await tc.charge(model=model, estimate=estimate, work=work, tokens=input_estimate + request.max_tokens,
                              delivered=delivered)
    return metered.result, metered


@tool(
    name="chat",
    title="Chat with an AI model",
    permission="tools:chat",
    paid=True,
    annotations=PAID_GENERATION,
    summarize=_summary,
)
async def chat(
    tc: ToolContext,
    prompt: Annotated[
        str | None, Field(max_length=MAX_PROMPT_CHARS, description="The user's message (simple form).")
    ] = None,
    messages: Annotated[
        list[Message] | None,
        Field(max_length=MAX_MESSAGES, description="The conversation so far, oldest first; the last is the user's."),
    ] = None,
    model: Annotated[str, Field(max_length=200, description="Public model name; see list_models.")] = "demo-chat",
    system: Annotated[
        str | None, Field(max_length=MAX_PROMPT_CHARS, description="Optional system instructions.")
    ] = None,
    max_tokens: Annotated[int, Field(ge=1, le=200_000, description="Most tokens the answer may have.")] = 1024,
    temperature: Annotated[float | None, Field(ge=0, le=2, description="Sampling temperature.")] = None,
) -> ChatOutput:
    """Send a prompt (or a conversation) to a chat model and return its answer.

    Costs credits: an upper-bound estimate (input tokens plus `max_tokens` of output) is reserved first
    and the exact price from the provider's reported usage is charged afterwards. Use `list_models` for
    the available models and their prices. A smaller `max_tokens` reserves less.
    """
    request = build_request(prompt, messages, system, max_tokens, temperature)
    result, metered = await run_chat(tc, model, request)
    return ChatOutput(
        text=result.text,
        model=model,
        provider=result.provider,
        upstream_model=result.upstream_model,
        finish_reason=result.finish_reason,
        input_tokens=result.input_tokens,
        output_tokens=result.output_tokens,
        credits_charged=format_credits(metered.charged),
        balance=None if metered.balance is None else format_credits(metered.balance),
    )
