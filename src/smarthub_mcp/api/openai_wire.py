"""The OpenAI Chat Completions wire format, translated to and from the `chat` tool.

`chat_arguments` turns a request body into the chat tool's arguments (validated by the registry,
so every limit is the MCP one); `completion`, `chunk` and `error_body` build OpenAI's shapes.
Nothing here does I/O: the endpoints (`openai_compat.py`) call the tool through `registry.invoke`.

What a request may carry (anything else is refused, as OpenAI refuses unknown arguments, so a
client never believes a parameter took effect when it did not):
- used: `model`, `messages`, `max_completion_tokens` (or the older `max_tokens`), `temperature`,
  `stream`, `stream_options.include_usage`;
- ignored: `IGNORED` below, hints that cannot change what is charged or what the answer means;
- accepted only at their neutral value (`n` 1, `tools` empty, `response_format` text...): `NEUTRAL`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from smarthub_mcp.errors import InvalidRequest, SmartHubError
from smarthub_mcp.tools.chat import ChatOutput
from smarthub_mcp.tools.registry import ToolSpec, validate_arguments

IGNORED = frozenset({
    "user", "metadata", "seed", "top_p", "frequency_penalty", "presence_penalty", "store", "service_tier",
    "parallel_tool_calls", "prompt_cache_key", "safety_identifier", "reasoning_effort", "verbosity",
})
NEUTRAL = frozenset({
    "n", "tools", "functions", "tool_choice", "function_call", "response_format", "logprobs", "top_logprobs",
    "stop", "logit_bias", "modalities", "audio", "prediction", "web_search_options",
})
USED = frozenset({"model", "messages", "max_tokens", "max_completion_tokens", "temperature", "stream",
                  "stream_options"})
SYSTEM_ROLES = ("system", "developer")
TURN_ROLES = ("user", "assistant")
MESSAGE_KEYS = frozenset({"role", "content", "name"})
FINISH_REASONS = {"stop": "stop", "length": "length", "content_filter": "content_filter", "tool_calls": "tool_calls"}


class UnsupportedParameter(InvalidRequest):
    code = "unsupported_parameter"


class AnswerInterrupted(SmartHubError):
    """The provider's stream broke after text was sent: the last event of such a stream."""

    code = "stream_interrupted"
    status = 502

    @classmethod
    def default_message(cls) -> str:
        return ("The AI provider's stream broke off, so the answer is incomplete. "
                "Only what was delivered was charged.")


def bad(message: str, param: str | None, cls: type[InvalidRequest] = InvalidRequest) -> InvalidRequest:
    """An input error that names the offending parameter (OpenAI's `param`)."""
    return cls(message, details={"param": param} if param else None)


@dataclass(frozen=True)
class Call:
    """A parsed request: the chat tool's arguments plus how to answer."""

    arguments: dict[str, Any]
    stream: bool
    include_usage: bool


def _neutral(name: str, value: Any) -> bool:
    if value is None:
        return True
    if name == "n":
        return value == 1 and not isinstance(value, bool)
    if name in ("tool_choice", "function_call"):
        return value == "none"
    if name == "response_format":
        return isinstance(value, dict) and value.get("type") == "text"
    if name == "logprobs":
        return value is False
    if name == "modalities":
        return value == ["text"]
    return value in ([], {}, "")


def _number(body: dict[str, Any], name: str, kind: type) -> Any:
    value = body.get(name)
    if value is None:
        return None
    ok = isinstance(value, kind) and not isinstance(value, bool)
    if kind is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok:
        raise bad(f"'{name}' must be {'an integer' if kind is int else 'a number'}", name)
    return value


def _text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise bad(f"'{where}' must be a string or a list of text parts", where)
    texts = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind != "text" or not isinstance(part.get("text"), str):
            shown = f"'{kind}'" if isinstance(kind, str) else "this"
            raise bad(f"content parts of type {shown} are not supported; send text parts only", f"{where}[{j}]")
        texts.append(part["text"])
    return "\n".join(texts)


def _messages(raw: Any) -> tuple[str | None, list[dict[str, str]], list[int]]:
    """(system, turns, origin): system/developer messages joined; `origin[k]` is turn k's index in `raw`."""
    if not isinstance(raw, list) or not raw:
        raise bad("'messages' must be a non-empty array", "messages")
    system: list[str] = []
    turns: list[dict[str, str]] = []
    origin: list[int] = []
    for i, message in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise bad(f"'{where}' must be an object", where)
        role = message.get("role")
        if role not in SYSTEM_ROLES + TURN_ROLES:
            shown = f"'{role}'" if isinstance(role, str) else "missing"
            raise bad(f"message role {shown} is not supported; use system, developer, user or assistant",
                      f"{where}.role")
        for key, value in message.items():
            if key not in MESSAGE_KEYS and value not in (None, []):  # tool_calls, audio...: no tool calling here
                raise bad(f"'{key}' in messages is not supported", f"{where}.{key}", UnsupportedParameter)
        text = _text(message.get("content"), f"{where}.content")
        if role in SYSTEM_ROLES:
            system.append(text)
        else:
            turns.append({"role": role, "content": text})
            origin.append(i)
    if not turns or turns[-1]["role"] != "user":
        raise bad("the last message (besides system messages) must be the user's", "messages")
    return ("\n\n".join(system) if system else None), turns, origin


def _param_of(field: str, origin: list[int], tokens_name: str) -> str:
    """The OpenAI parameter behind a chat tool argument's validation error."""
    match = re.match(r"messages\.(\d+)\.?(.*)", field)
    if match:
        index = int(match.group(1))
        rest = match.group(2)
        where = f"messages[{origin[index]}]" if index < len(origin) else "messages"
        return f"{where}.{rest}" if rest else where
    return {"system": "messages", "max_tokens": tokens_name}.get(field, field)


def chat_arguments(body: Any, spec: ToolSpec, max_output_tokens: int | None) -> Call:
    """A request body as validated chat tool arguments; `InvalidRequest` naming the parameter otherwise.

    `max_output_tokens` is the model's cap when the model exists: without a `max_tokens`, the tool's
    default is lowered to it, since an OpenAI client that asked for nothing should not be refused.
    """
    if not isinstance(body, dict):
        raise bad("the request body must be a JSON object", None)
    for name, value in body.items():
        if name in NEUTRAL and not _neutral(name, value):
            raise bad(f"'{name}' is not supported by this endpoint", name, UnsupportedParameter)
        if name not in USED | IGNORED | NEUTRAL:
            raise bad(f"Unrecognized request argument supplied: {name}", name, UnsupportedParameter)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad("'model' must be a non-empty string", "model")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise bad("'stream' must be a boolean", "stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise bad("'stream_options' must be an object", "stream_options")
    include_usage = (options or {}).get("include_usage")
    if include_usage is not None and not isinstance(include_usage, bool):
        raise bad("'stream_options.include_usage' must be a boolean", "stream_options.include_usage")
    tokens_name = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    max_tokens = _number(body, tokens_name, int)
    if max_tokens is None:
        max_tokens = spec.arguments.model_fields["max_tokens"].default
        if max_output_tokens is not None:
            max_tokens = min(max_tokens, max_output_tokens)
    temperature = _number(body, "temperature", float)
    system, turns, origin = _messages(body.get("messages"))
    raw = {"model": model, "messages": turns, "system": system, "max_tokens": max_tokens, "temperature": temperature}
    try:
        arguments = validate_arguments(spec, raw)
    except InvalidRequest as exc:
        problem = (exc.details.get("errors") or [{}])[0]
        param = _param_of(str(problem.get("field", "")), origin, tokens_name)
        raise bad(f"invalid '{param}': {problem.get('problem', 'invalid value')}", param) from None
    return Call(arguments, bool(stream), bool(include_usage))


# --- responses ---------------------------------------------------------------------------------


def finish_reason(ours: str) -> str:
    return FINISH_REASONS.get(ours, "stop")


def usage(out: ChatOutput) -> dict[str, int]:
    return {"prompt_tokens": out.input_tokens, "completion_tokens": out.output_tokens,
            "total_tokens": out.input_tokens + out.output_tokens}


def extras(out: ChatOutput) -> dict[str, Any]:
    """SmartHub's own facts about the call, under a key OpenAI does not use."""
    return {"credits_charged": out.credits_charged, "balance": out.balance, "provider": out.provider,
            "upstream_model": out.upstream_model, "finish_reason": out.finish_reason}


def completion(completion_id: str, created: int, out: ChatOutput) -> dict[str, Any]:
    return {
        "id": completion_id, "object": "chat.completion", "created": created, "model": out.model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": out.text, "refusal": None},
                     "logprobs": None, "finish_reason": finish_reason(out.finish_reason)}],
        "usage": usage(out),
        "smarthub": extras(out),
    }


def chunk(completion_id: str, created: int, model: str, choices: list[dict[str, Any]], **more: Any) -> dict[str, Any]:
    return {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
            "system_fingerprint": None, "choices": choices, **more}


def delta(content: dict[str, Any], finish: str | None = None) -> list[dict[str, Any]]:
    return [{"index": 0, "delta": content, "logprobs": None, "finish_reason": finish}]


# --- errors ------------------------------------------------------------------------------------

_TYPES = {401: "authentication_error", 402: "insufficient_quota", 403: "permission_error", 429: "rate_limit_error"}


def error_status(exc: SmartHubError) -> int:
    # OpenAI answers an unknown model with 404, and clients (the SDKs' NotFoundError) expect that.
    return 404 if exc.code == "unknown_model" else exc.status


def error_body(exc: SmartHubError) -> dict[str, Any]:
    """`{"error": {"message", "type", "param", "code"}}`, plus our `details` when there are any."""
    status = error_status(exc)
    kind = _TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")
    details = dict(exc.details)
    param = details.pop("param", None)
    if param is None and exc.code == "unknown_model":
        param = "model"
    error: dict[str, Any] = {"message": exc.message, "type": kind, "param": param, "code": exc.code}
    if details:
        error["details"] = details
    return {"error": error}
