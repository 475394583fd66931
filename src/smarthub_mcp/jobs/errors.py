"""Errors of the jobs package: one class, one stable code, per broken rule."""

from __future__ import annotations

from smarthub_mcp.errors import Conflict, NotFound


class JobNotFound(NotFound):
    """Also what another user's job looks like: invisible, not forbidden."""

    code = "job_not_found"


class JobNotCancellable(Conflict):
    """The job cannot be stopped now: it is being sent to the provider (try again in a moment), or
    its provider does not take cancellations (it will be charged only for what it delivers)."""

    code = "job_not_cancellable"
