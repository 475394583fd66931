"""Documented operations: image generation and the caller's generation jobs."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from smarthub_mcp.api.admin_jobs import QueueItem, QueuePage, SettleBody
from smarthub_mcp.api.jobs import BatchRequest, WebhookBody, WebhookOut
from smarthub_mcp.api.openapi.spec import CURSOR, Operation, limit, path, query
from smarthub_mcp.jobs import store
from smarthub_mcp.jobs.kinds import JOBS_PERMISSION, PERMISSIONS
from smarthub_mcp.jobs.views import JobOut
from smarthub_mcp.tools.catalog import all_tools
from smarthub_mcp.tools.jobs import JobPage

JOBS = "images and jobs"
ID = path("id", "A job id (`job_...`).")


class BatchItem(BaseModel):
    index: int
    ok: bool
    result: JobOut | None = Field(None, description="The job, when this item ran (ok).")
    error: dict[str, Any] | None = Field(None, description="{code, message, details} when it did not.")


class BatchAnswer(BaseModel):
    items: list[BatchItem]


ADMIN = "admin"

OPERATIONS = [
    Operation("POST", "/images", "Generate images (waits for them, up to a limit)", JOBS,
              body=all_tools()["generate_image"].arguments, response=JobOut, permission=PERMISSIONS["image"],
              errors=(402, 404, 502), operation_id="generate_images",
              description="The generate_image tool: holds the price of every image asked for, charges only the"
              " delivered ones. Answers with the images, or with the job (status running) when they take longer."),
    Operation("POST", "/videos", "Generate a video (usually answers with the running job)", JOBS,
              body=all_tools()["generate_video"].arguments, response=JobOut, permission=PERMISSIONS["video"],
              errors=(402, 404, 502), operation_id="generate_videos",
              description="The generate_video tool: holds the per-second price of the duration asked (or the"
              " model's default), charges the seconds made. Poll GET /jobs/{id} for progress and the video."),
    Operation("POST", "/images/batch", "Generate images for several prompts, each charged on its own", JOBS,
              body=BatchRequest, response=BatchAnswer, permission=PERMISSIONS["image"],
              operation_id="generate_batch",
              description="At most 10 items, 3 at once; one item that fails (or cannot pay) does not stop the"
              " others. A malformed item refuses the whole batch before anything runs."),
    Operation("GET", "/jobs", "Your generation jobs, newest first", JOBS, response=JobPage,
              permission=JOBS_PERMISSION, operation_id="list_generation_jobs",
              params=(limit(20, store.MAX_LIMIT), CURSOR,
                      query("status", "Only jobs in this status.", type="string",
                            enum=[*store.OPEN, *store.FINAL]))),
    Operation("GET", "/jobs/{id}", "One of your jobs: status, progress, credits, outputs", JOBS, response=JobOut,
              params=(ID,), permission=JOBS_PERMISSION, errors=(404,), operation_id="get_generation_job"),
    Operation("POST", "/jobs/{id}/cancel", "Cancel a running job; what will not be delivered is returned", JOBS,
              response=JobOut, params=(ID,), permission=JOBS_PERMISSION, errors=(404, 409),
              operation_id="cancel_generation_job", body_required=False),
    Operation("GET", "/account/webhook", "Where your job completion notices are sent", JOBS, response=WebhookOut,
              permission=JOBS_PERMISSION, operation_id="get_account_webhook"),
    Operation("PUT", "/account/webhook", "Set the https URL your job completion notices are POSTed to", JOBS,
              body=WebhookBody, response=WebhookOut, permission=JOBS_PERMISSION, operation_id="set_account_webhook",
              description="Answers the signing secret once. Each notice carries SmartHub-Event-Id and"
              " SmartHub-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of 't.body'>; retried with backoff."),
    Operation("DELETE", "/account/webhook", "Stop sending job completion notices", JOBS, response=WebhookOut,
              permission=JOBS_PERMISSION, operation_id="delete_account_webhook"),
    Operation("GET", "/admin/jobs", "The rendering queue: every user's open jobs (or all, with all=true)", ADMIN,
              response=QueuePage, permission="reports:read", operation_id="admin_list_jobs",
              params=(limit(50, store.MAX_LIMIT), CURSOR,
                      query("status", "Only jobs in this status.", type="string", enum=[*store.OPEN, *store.FINAL]),
                      query("all", "Settled jobs too.", type="boolean"))),
    Operation("POST", "/admin/jobs/{id}/settle", "Settle a job whose outcome is unknown, after checking with its"
              " provider (audited)", ADMIN, body=SettleBody, response=QueueItem, params=(ID,),
              permission="credits:adjust", errors=(404, 409), operation_id="admin_settle_job"),
]
