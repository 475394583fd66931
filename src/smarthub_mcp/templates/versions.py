"""Template versions: the immutable `template_versions` rows behind a template, one per change of
body or variables (a restore copies an old one forward, so history stays linear). Reading,
writing and shaping them; `TemplateStore` (templates/store.py) decides who may, and when.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp.templates.errors import TemplateVersionNotFound
from smarthub_mcp.templates.schemas import VersionInfo
from smarthub_mcp.templates.variables import Variable

MAX_VERSION = 1_000_000
"""The largest version number a caller may name: far past any template's history, and a bound
that keeps a number like 2**70 from reaching the database as an overflow."""


def version_info(row: Any) -> VersionInfo:
    return VersionInfo(
        version=row.version,
        body=row.body,
        variables=[Variable.model_validate(v) for v in json.loads(row.variables_json)],
        restored_from=row.restored_from,
        created_at=row.created_at,
    )


def variables_json(variables: list[Variable]) -> str:
    return json.dumps([v.model_dump(exclude_none=True) for v in variables], separators=(",", ":"))


async def version_row(conn: AsyncConnection, template_id: str, version: int) -> Any:
    row = (
        await conn.execute(
            text(
                "SELECT version, body, variables_json, restored_from, created_at FROM template_versions"
                " WHERE template_id = :id AND version = :v"
            ),
            {"id": template_id, "v": version},
        )
    ).first()
    if row is None:
        raise TemplateVersionNotFound(
            f"template has no version {version}", details={"template_id": template_id, "version": version}
        )
    return row


async def all_versions(conn: AsyncConnection, template_id: str) -> list[VersionInfo]:
    """Newest first."""
    rows = await conn.execute(
        text(
            "SELECT version, body, variables_json, restored_from, created_at FROM template_versions"
            " WHERE template_id = :id ORDER BY version DESC"
        ),
        {"id": template_id},
    )
    return [version_info(r) for r in rows]


async def add_version(
    conn: AsyncConnection,
    template_id: str,
    version: int,
    body: str,
    variables: list[Variable],
    author: str | None,
    now: int,
    *,
    restored_from: int | None = None,
) -> None:
    await conn.execute(
        text(
            "INSERT INTO template_versions (template_id, version, body, variables_json, restored_from,"
            " created_by, created_at) VALUES (:id, :v, :body, :vars, :restored, :by, :now)"
        ),
        {
            "id": template_id,
            "v": version,
            "body": body,
            "vars": variables_json(variables),
            "restored": restored_from,
            "by": author,
            "now": now,
        },
    )
