"""The `chat` tool: one conversation turn with any configured chat model, charged by the token.

The tool is its arguments and its answer; building, pricing and running the call is
`generation/chat.py`, shared with `/v1` and template runs."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from smarthub_mcp.billing.money import format_credits
from smarthub_mcp.generation.chat import OnText, build_request, price_chat, run_chat
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


def _streamed(tc: ToolContext) -> OnText | None:
    """Stream from the provider only when the client listens for progress: each piece is one."""
    if tc.progress is None:
        return None

    async def on_text(pieces: int, text: str) -> None:
        await tc.report(pieces, None, text)

    return on_text


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
    call = price_chat(tc.services.router, model, build_request(prompt, messages, system, max_tokens, temperature))
    metered = await run_chat(tc.services, tc.principal, call, tc.charge, on_text=_streamed(tc))
    result = metered.result
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
