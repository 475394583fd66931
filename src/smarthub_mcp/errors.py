"""One error root for the whole project.

Every error a user can see is a `SmartHubError`: it carries a stable machine `code`, an HTTP
status and a message that is safe to show (no keys, no provider bodies, no stack traces).
Transports render it in one shape: `{"error": {"code", "message", "details"}}` over HTTP and
`isError` tool results over MCP. Its text is made encodable here, once, so that no renderer can
fail on a message that quotes a caller's input.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ValidationError


class SmartHubError(Exception):
    """Root of every error the project raises on purpose."""

    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400
    logged_where_raised: ClassVar[bool] = False
    """True when the raiser logs the cause itself: transports then skip their own line for a 5xx."""
    default_retry_after: ClassVar[int | None] = None
    """Seconds a client should wait before retrying (outages answered 503): sent as Retry-After and
    as `details.retry_after_seconds`."""

    def __init__(
        self,
        message: str | None = None,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = encodable(message or self.default_message())
        self.details = encodable(details or {})
        self.headers = headers or {}
        if self.default_retry_after is not None and "Retry-After" not in self.headers:
            self.headers = {**self.headers, "Retry-After": str(self.default_retry_after)}
            self.details = {"retry_after_seconds": self.default_retry_after, **self.details}
        super().__init__(self.message)

    @classmethod
    def default_message(cls) -> str:
        return cls.code.replace("_", " ").capitalize()

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


def encodable(value: Any) -> Any:
    """`value` with every lone surrogate in its strings (and keys) written as `\\udXXX`.

    A message may quote input (an unknown role, a bad permission) and a lone surrogate from JSON
    `"\\ud800"` cannot be encoded as UTF-8: the JSON error would itself fail, as a 500."""
    if isinstance(value, str):
        return value if value.isascii() else value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {encodable(k): encodable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(encodable(v) for v in value)
    return value


# --- configuration and start-up -------------------------------------------------------------


class ConfigError(SmartHubError):
    code = "config_error"
    status = 500


class DatabaseNotReady(SmartHubError):
    code = "database_not_ready"
    status = 503


# --- generic request errors -----------------------------------------------------------------


class InvalidRequest(SmartHubError):
    code = "invalid_request"
    status = 400


class NotFound(SmartHubError):
    code = "not_found"
    status = 404


class Conflict(SmartHubError):
    code = "conflict"
    status = 409


class PayloadTooLarge(SmartHubError):
    code = "payload_too_large"
    status = 413


class ClientClosedRequest(SmartHubError):
    """The client hung up before its whole request arrived: nobody reads the answer, and it is not a
    server fault (nginx's 499), so it is not logged as one."""

    code = "client_closed_request"
    status = 499


class UnsupportedMediaType(SmartHubError):
    code = "unsupported_media_type"
    status = 415


class InternalError(SmartHubError):
    code = "internal_error"
    status = 500

    @classmethod
    def default_message(cls) -> str:
        return "Something went wrong on our side. The request id in the response headers helps us find it."


# --- identity -------------------------------------------------------------------------------


class Unauthenticated(SmartHubError):
    code = "unauthenticated"
    status = 401

    def __init__(self, message: str | None = None, **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        super().__init__(message or "Missing or invalid credentials", **kw)


class Forbidden(SmartHubError):
    code = "forbidden"
    status = 403


class RateLimited(SmartHubError):
    code = "rate_limited"
    status = 429

    def __init__(self, message: str | None = None, *, retry_after: float, **kw: Any) -> None:
        seconds = max(1, int(retry_after + 0.999))
        kw.setdefault("headers", {"Retry-After": str(seconds)})
        details = {"retry_after_seconds": seconds, **kw.pop("details", {})}
        super().__init__(message or f"Too many requests; retry in {seconds} s", details=details, **kw)
        self.retry_after = seconds


class RateLimiterUnavailable(SmartHubError):
    """The shared rate-limit store (Redis) did not answer: the call is refused, nothing is charged."""

    code = "rate_limiter_unavailable"
    status = 503
    logged_where_raised = True  # one warning naming Redis and the cause, by the limiter
    default_retry_after = 2  # Redis calls time out after 2 s

    @classmethod
    def default_message(cls) -> str:
        return "Rate limiting is unavailable right now: the call was refused and nothing was charged. Retry shortly."


class DatabaseBusy(SmartHubError):
    """Every database connection this replica may open is in use and none came free in time."""

    code = "database_busy"
    status = 503
    default_retry_after = 1

    @classmethod
    def default_message(cls) -> str:
        return "The server is busy right now; retry in a moment."


class DatabaseUnavailable(SmartHubError):
    """The database refused a new connection or did not answer it (down, restarting, out of
    connection slots): nothing was done. The cause is logged where it was raised."""

    code = "database_unavailable"
    status = 503
    logged_where_raised = True
    default_retry_after = 2

    @classmethod
    def default_message(cls) -> str:
        return "The database is not accepting connections right now; nothing was done. Retry shortly."


STORE_OUTAGES = (DatabaseBusy, DatabaseUnavailable)
"""The store out of reach: a reason to retry later, never a verdict on the work."""


class ShuttingDown(SmartHubError):
    """The replica stopped (SIGTERM) before the call finished, past its grace period: nothing was
    charged, and another replica takes the retry."""

    code = "shutting_down"
    status = 503

    def __init__(self, message: str | None = None, **kw: Any) -> None:
        kw.setdefault("headers", {"Retry-After": "1"})
        super().__init__(message or "The server restarted before this call finished: nothing was charged."
                         " Retry it.", **kw)


# --- money ----------------------------------------------------------------------------------


class InsufficientCredits(SmartHubError):
    code = "insufficient_credits"
    status = 402


class LedgerError(SmartHubError):
    """A ledger rule was broken (hold already resolved, amount out of range...)."""

    code = "ledger_error"
    status = 409


# --- providers ------------------------------------------------------------------------------


class ProviderError(SmartHubError):
    """An upstream provider failed. The message is ours, never the provider's raw body."""

    code = "provider_error"
    status = 502

    def __init__(
        self,
        message: str | None = None,
        *,
        upstream_status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        provider: str | None = None,
        attempts: tuple[Any, ...] = (),
        **kw: Any,
    ) -> None:
        super().__init__(message or "The AI provider failed to answer", **kw)
        self.upstream_status = upstream_status
        self.retryable = retryable
        self.retry_after = retry_after
        self.provider = provider
        self.attempts = attempts
        """Every call the router made (providers.base.Attempt); none answered, so nothing is charged."""


class ProviderRejected(ProviderError):
    """The provider refused this request as such (bad input, too long, content policy): not retried."""

    code = "provider_rejected"
    status = 422


class ProviderUnavailable(ProviderError):
    code = "provider_unavailable"
    status = 503


class ProviderTaskFailed(ProviderError):
    """The provider accepted a job and later reported that it failed. Not retried: sending it again
    is a new job. `details["provider_code"]` carries the provider's own machine code when it gives
    one, and `details["provider_charge"]` what it says it billed for the failure (Runway), if any."""

    code = "provider_task_failed"
    status = 502


class ProviderOutcomeUnknown(ProviderError):
    """A submit was sent and no answer came back (a read timeout, a connection cut after sending):
    the provider may have accepted it and may bill it. Never retried, never sent to another route;
    the job keeps its credits held until its outcome is known (jobs/)."""

    code = "provider_outcome_unknown"
    status = 504


class UnknownModel(SmartHubError):
    code = "unknown_model"
    status = 400


def unknown_model(name: str, models: Mapping[str, Any]) -> UnknownModel:
    """UnknownModel naming what is available (enabled models), so a model can pick one."""
    available = sorted(k for k, m in models.items() if getattr(m, "enabled", True))
    shown = ", ".join(available[:20]) or "none"
    return UnknownModel(f"unknown model {name[:100]!r}; available: {shown}",
                        details={"model": name[:100], "available": available})


class EmailNotVerified(Forbidden):
    """The operator requires a verified email before paid tools run."""

    code = "email_not_verified"
    status = 403


class IdempotencyConflict(Conflict):
    """An idempotency key was reused for a different money movement."""

    code = "idempotency_conflict"
    status = 409


M = TypeVar("M", bound=BaseModel)


def validation_details(exc: ValidationError) -> dict[str, object]:
    """Which fields failed and why, without echoing the input (it may be huge, or a secret)."""
    fields = [
        {"field": ".".join(str(p) for p in err["loc"]) or "(body)", "problem": err["msg"], "type": err["type"]}
        for err in exc.errors(include_url=False, include_input=False)
    ]
    return {"fields": fields}


def validated(model: type[M], data: Any, message: str = "the request body is invalid") -> M:
    """`data` as a `model` instance, or InvalidRequest naming each field: one rule for every way in
    (an HTTP body, a tool's arguments), so the same input gets the same 400 everywhere."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequest(message, details=validation_details(exc)) from None


def log_failure(log: logging.Logger, message: str, exc: BaseException) -> None:
    """For work that retries by itself (background loops): a fault is logged with its traceback;
    an outage (a 503, or an error whose cause was logged where it was raised: the database or Redis
    out of reach) gets one line, so it reads as one warning per attempt, not a page of stack."""
    if isinstance(exc, SmartHubError) and (exc.logged_where_raised or exc.status == 503):
        log.warning("%s (%s)", message, exc.code)
    else:
        log.error(message, exc_info=exc)
