"""Errors of the moderation package: one class, one stable code, per broken rule."""

from __future__ import annotations

from smarthub_mcp.errors import NotFound, SmartHubError


class PromptRefused(SmartHubError):
    """The prompt is one this server will not serve; nothing was held or charged. `details.category`
    names the category that refused it, `details.source` the check (block_list or moderation)."""

    code = "prompt_refused"
    status = 422


class ModerationUnavailable(SmartHubError):
    """The moderation endpoint could not answer and this kind of prompt fails closed; nothing was
    held or charged. Try again shortly."""

    code = "moderation_unavailable"
    status = 503


class GenerationSuspended(SmartHubError):
    """An admin suspended generation for this user (moderation policy); nothing was held or charged."""

    code = "generation_suspended"
    status = 403


class ReviewNotFound(NotFound):
    code = "review_not_found"
