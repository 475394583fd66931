"""`job://{job_id}`: a generation job as an MCP resource, readable by its owner only.

Reading it gives the job as `get_job` shows it (JSON). A client on the 2026-07-28 protocol that
listens (`subscriptions/listen` with `resourceSubscriptions: ["job://<id>"]`) is sent
`notifications/resources/updated` whenever the job moves (progress, settled), from the replica
running it; it then reads the resource again. Another user's job reads like a missing one.
"""

from __future__ import annotations

from typing import Any

from mcp.server.context import CallNext, ServerRequestContext
from mcp.types import ReadResourceResult, ResourceTemplate, TextResourceContents

from smarthub_mcp.errors import SmartHubError
from smarthub_mcp.jobs import store
from smarthub_mcp.jobs.errors import JobNotFound
from smarthub_mcp.jobs.kinds import JOBS_PERMISSION
from smarthub_mcp.jobs.views import show
from smarthub_mcp.services import Services
from smarthub_mcp.tools.binding import PrincipalSource
from smarthub_mcp.tools.media_resources import refused, wire

SCHEME = "job://"
TEMPLATE = ResourceTemplate(
    uri_template="job://{job_id}",
    name="job",
    title="A generation job",
    description="One of your image or video jobs by its job_id: status, progress, credits, outputs (JSON)."
    " Listen for updates to it instead of polling get_job.",
    mime_type="application/json",
)


def job_resources_middleware(services: Services, principal_source: PrincipalSource) -> Any:
    """Answer `resources/read` for `job://` URIs and list the template."""

    async def middleware(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> Any:
        method = ctx.method
        uri = (ctx.params or {}).get("uri") if method == "resources/read" else None
        if method == "resources/templates/list":
            result = await call_next(ctx)
            listed = list(result.get("resourceTemplates", [])) if isinstance(result, dict) else []
            return {**(result if isinstance(result, dict) else {}), "resourceTemplates": [*listed, wire(TEMPLATE)]}
        if not (isinstance(uri, str) and uri.startswith(SCHEME)):
            return await call_next(ctx)
        try:
            principal = await principal_source()
            if not principal.can(JOBS_PERMISSION):
                raise JobNotFound("no such job")
            await services.rate_limiter.check(principal, "resources/read", 0)
            job = await store.get_for(services.db, principal.user_id, uri[len(SCHEME):])
            out = await show(services.db, services.storage, job, services.settings.storage.url_ttl_seconds)
            return ReadResourceResult(contents=[TextResourceContents(uri=uri, text=out.model_dump_json(),
                                                                     mime_type="application/json")])
        except SmartHubError as exc:
            raise refused(exc, uri) from None

    return middleware
