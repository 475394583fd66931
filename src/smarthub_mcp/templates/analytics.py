"""Per-run records and the numbers an owner sees for each template.

Every run that reached a provider leaves one `template_runs` row (which version, which model,
success or failure, latency, tokens, micro-credits captured) and bumps the template's
`run_count`, the popularity counter the gallery sorts by. Runs refused before that (bad
variables, no credits) leave nothing: they were never runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text

from smarthub_mcp.billing.money import format_credits
from smarthub_mcp.db import Database
from smarthub_mcp.ids import new_id, now_ms
from smarthub_mcp.templates.errors import TemplateNotFound
from smarthub_mcp.templates.schemas import TemplateStats


@dataclass(frozen=True)
class RunRecord:
    template_id: str
    version: int
    user_id: str
    model: str
    succeeded: bool
    latency_ms: int
    input_tokens: int = 0
    output_tokens: int = 0
    credits: int = 0
    error_code: str | None = None
    batch_id: str | None = None
    request_id: str | None = None


async def record_run(db: Database, run: RunRecord) -> str:
    run_id = new_id("trun")
    async with db.write() as conn:
        await conn.execute(
            text(
                "INSERT INTO template_runs (id, template_id, version, user_id, model, status, latency_ms,"
                " input_tokens, output_tokens, credits, error_code, batch_id, request_id, created_at)"
                " VALUES (:id, :tid, :v, :uid, :model, :status, :lat, :inp, :out, :credits, :err, :batch, :req, :now)"
            ),
            {
                "id": run_id,
                "tid": run.template_id,
                "v": run.version,
                "uid": run.user_id,
                "model": run.model,
                "status": "succeeded" if run.succeeded else "failed",
                "lat": max(0, run.latency_ms),
                "inp": run.input_tokens,
                "out": run.output_tokens,
                "credits": run.credits,
                "err": run.error_code,
                "batch": run.batch_id,
                "req": run.request_id,
                "now": now_ms(),
            },
        )
        if run.succeeded:
            await conn.execute(
                text("UPDATE templates SET run_count = run_count + 1 WHERE id = :id"), {"id": run.template_id}
            )
    return run_id


async def template_stats(db: Database, owner_id: str, template_id: str) -> TemplateStats:
    """The owner's numbers for one template (anyone else: `template_not_found`)."""
    async with db.read() as conn:
        owned = (
            await conn.execute(
                text("SELECT 1 FROM templates WHERE id = :id AND owner_id = :o"), {"id": template_id, "o": owner_id}
            )
        ).first()
        if owned is None:
            raise TemplateNotFound("no such template", details={"template_id": template_id})
        agg = (
            await conn.execute(
                text(
                    "SELECT COUNT(*) AS runs,"
                    " COALESCE(SUM(CASE WHEN status = 'succeeded' THEN 1 ELSE 0 END), 0) AS ok,"
                    " COALESCE(SUM(latency_ms), 0) AS lat, COALESCE(SUM(input_tokens), 0) AS inp,"
                    " COALESCE(SUM(output_tokens), 0) AS out, COALESCE(SUM(credits), 0) AS credits,"
                    " MAX(created_at) AS last FROM template_runs WHERE template_id = :id"
                ),
                {"id": template_id},
            )
        ).one()
        by_version = {
            str(r.version): int(r.n)
            for r in await conn.execute(
                text(
                    "SELECT version, COUNT(*) AS n FROM template_runs WHERE template_id = :id"
                    " GROUP BY version ORDER BY version"
                ),
                {"id": template_id},
            )
        }
    runs, ok = int(agg.runs), int(agg.ok)
    credits = int(agg.credits)
    return TemplateStats(
        template_id=template_id,
        runs=runs,
        succeeded=ok,
        failed=runs - ok,
        success_rate=round(ok / runs, 4) if runs else None,
        avg_latency_ms=int(agg.lat) // runs if runs else None,
        avg_input_tokens=int(agg.inp) // runs if runs else None,
        avg_output_tokens=int(agg.out) // runs if runs else None,
        credits_spent=format_credits(credits),
        credits_spent_micro=credits,
        last_run_at=int(agg.last) if agg.last is not None else None,
        runs_by_version=by_version,
    )
