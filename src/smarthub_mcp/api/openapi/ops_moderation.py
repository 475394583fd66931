"""Documented operations: the moderation review queue, users' moderation policy and the compliance report."""

from __future__ import annotations

from smarthub_mcp.api.admin_moderation import (
    DecisionBody,
    PolicyBody,
    PolicyOut,
    PolicyPage,
    ReportOut,
    ReviewOut,
    ReviewPage,
)
from smarthub_mcp.api.openapi.spec import CURSOR, Operation, limit, path, query, time_query
from smarthub_mcp.moderation import reviews

TAG = "admin: moderation"

OPERATIONS = [
    Operation("GET", "/admin/moderation", "Outputs held for review, oldest first", TAG, response=ReviewPage,
              permission="reports:read", operation_id="admin_list_reviews",
              params=(query("status", "pending (default), approved or rejected.", type="string",
                            enum=list(reviews.STATUSES)),
                      query("user_id", "Only this user's.", type="string", maxLength=100),
                      CURSOR, limit(50, reviews.MAX_LIMIT))),
    Operation("GET", "/admin/moderation/report", "The compliance report: refusals and flags by day, user and"
              " category", TAG, response=ReportOut, permission="reports:read", operation_id="admin_moderation_report",
              params=(time_query("from", "First day (default: 29 days before `to`). ISO date or epoch ms."),
                      time_query("to", "Last day, included (default: today, UTC). ISO date or epoch ms."),
                      query("format", "`csv` for a spreadsheet.", type="string", enum=["json", "csv"])),
              extensions={"x-alternative-media": {"text/csv": {"schema": {"type": "string"}}}}),
    Operation("GET", "/admin/moderation/users", "Users' moderation policies (flagged=true: repeat offenders)", TAG,
              response=PolicyPage, permission="reports:read", operation_id="admin_list_moderation_users",
              params=(query("flagged", "Only users flagged as repeat offenders.", type="boolean"), CURSOR,
                      limit(50, 100))),
    Operation("PUT", "/admin/moderation/users/{user_id}", "Exempt a user from the checks, suspend their"
              " generation, or clear their flag (audited)", TAG, body=PolicyBody, response=PolicyOut,
              params=(path("user_id", "A user id."),), permission="users:manage", errors=(404,),
              operation_id="admin_set_moderation_policy"),
    Operation("POST", "/admin/moderation/{id}", "Approve (deliver, then charge once) or reject (delete, refund) a"
              " held output (audited)", TAG, body=DecisionBody, response=ReviewOut,
              params=(path("id", "A review id (`rev_...`)."),), permission="users:manage", errors=(404, 409),
              operation_id="admin_decide_review"),
]
