"""The template store: create, edit (a new immutable version per change), restore, fork, delete,
list and search, over `services.db`. The version rows themselves are templates/versions.py.

Visibility is decided here, once, for HTTP and MCP alike: a caller sees their own templates and
public ones; anyone else's private template does not exist for them (`template_not_found`, a
404, never a 403). Only the owner changes a template; system templates (no owner) change only
by migration. Making a template public needs `templates:publish`.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import re
import unicodedata
from collections.abc import Iterator
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from smarthub_mcp.db import Database
from smarthub_mcp.errors import Conflict
from smarthub_mcp.identity.principal import Principal
from smarthub_mcp.ids import new_id, now_ms
from smarthub_mcp.templates.errors import (
    TemplateNotEditable,
    TemplateNotFound,
    TemplateSlugTaken,
    TemplateVersionNotFound,
)
from smarthub_mcp.templates.schemas import (
    TemplateCreate,
    TemplateDetail,
    TemplateSummary,
    TemplateUpdate,
    VersionInfo,
)
from smarthub_mcp.templates.variables import Variable, check_body, declare
from smarthub_mcp.templates.versions import add_version, all_versions, variables_json, version_info, version_row

PUBLISH_PERMISSION = "templates:publish"
RUN_PERMISSION = "tools:templates"
"""Managing and running templates (the identity migration grants it to `user` and up)."""
MAX_PAGE = 100
Sort = Literal["popular", "recent"]

_COLUMNS = (
    "t.id, t.owner_id, t.name, t.slug, t.description, t.category, t.tags_json, t.visibility,"
    " t.default_model, t.params_json, t.current_version, t.forked_from, t.run_count, t.fork_count,"
    " t.created_at, t.updated_at"
)
# Popularity: runs, with a fork worth five runs (a fork is a stronger signal than one use).
POPULARITY = "(t.run_count + 5 * t.fork_count)"


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:56].strip("-")
    return slug or "template"


def _like(term: str) -> str:
    escaped = term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _summary(row: Any, caller_id: str | None) -> dict[str, Any]:
    return {
        "id": row.id,
        "owner_id": row.owner_id,
        "name": row.name,
        "slug": row.slug,
        "description": row.description,
        "category": row.category,
        "tags": json.loads(row.tags_json),
        "visibility": row.visibility,
        "default_model": row.default_model,
        "params": json.loads(row.params_json),
        "current_version": row.current_version,
        "forked_from": row.forked_from,
        "run_count": row.run_count,
        "fork_count": row.fork_count,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "mine": caller_id is not None and row.owner_id == caller_id,
    }


class TemplateStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- reading --------------------------------------------------------------------------------

    async def _visible_row(
        self, conn: AsyncConnection, caller_id: str, template_id: str, *, by_name: bool = True
    ) -> Any:
        """A template the caller may see, by id or by the name prompts/list gives it: its slug (the
        caller's own first, then a starter, then the oldest public one) or `slug-<id's last 6>`."""
        row = (
            await conn.execute(
                text(
                    f"SELECT {_COLUMNS} FROM templates t WHERE (t.id = :id"
                    + (" OR t.slug = :id OR t.slug || '-' || substr(t.id, length(t.id) - 5) = :id)" if by_name else ")")
                    + " AND (t.owner_id = :caller OR t.visibility = 'public')"
                    " ORDER BY CASE WHEN t.id = :id THEN 0 WHEN t.owner_id = :caller THEN 1"
                    " WHEN t.owner_id IS NULL THEN 2 ELSE 3 END, t.id LIMIT 1"
                ),
                {"id": template_id, "caller": caller_id},
            )
        ).first()
        if row is None:
            raise TemplateNotFound("no such template", details={"template_id": template_id})
        return row

    async def _owned_row(self, conn: AsyncConnection, caller_id: str, template_id: str) -> Any:
        row = await self._visible_row(conn, caller_id, template_id, by_name=False)  # changes go by id
        if row.owner_id != caller_id:
            raise TemplateNotEditable("only the owner can change this template", details={"template_id": template_id})
        return row

    async def get(self, caller_id: str, template_id: str, *, with_versions: bool = True) -> TemplateDetail:
        async with self.db.read() as conn:
            row = await self._visible_row(conn, caller_id, template_id)
            current = version_info(await version_row(conn, row.id, row.current_version))
            # Only the owner sees the history: publishing shares what the template is now, not
            # what it was (an old version may hold text its owner has since taken out).
            versions = await all_versions(conn, row.id) if with_versions and row.owner_id == caller_id else []
        return TemplateDetail(
            **_summary(row, caller_id), body=current.body, variables=current.variables, versions=versions
        )

    async def resolve(
        self, caller_id: str, template_id: str, version: int | None = None
    ) -> tuple[TemplateSummary, VersionInfo]:
        """The template and the version a run uses (the current one unless `version` is given)."""
        async with self.db.read() as conn:
            row = await self._visible_row(conn, caller_id, template_id)
            if version is not None and version != row.current_version and row.owner_id != caller_id:
                raise TemplateVersionNotFound(  # others run the current version only (see `get`)
                    f"template has no version {version}", details={"template_id": template_id, "version": version}
                )
            ver = await version_row(conn, row.id, version or row.current_version)
        return TemplateSummary(**_summary(row, caller_id)), version_info(ver)

    async def list(
        self,
        caller_id: str,
        *,
        scope: Literal["mine", "public", "visible"] = "mine",
        category: str | None = None,
        tag: str | None = None,
        search: str | None = None,
        sort: Sort = "recent",
        limit: int = 50,
        offset: int = 0,
    ) -> list[TemplateSummary]:
        """`mine`: the caller's own; `public`: the gallery; `visible`: both (what prompts/list shows)."""
        where: list[str] = []
        params: dict[str, Any] = {"caller": caller_id, "limit": max(1, min(limit, MAX_PAGE)), "offset": max(0, offset)}
        if scope == "mine":
            where.append("t.owner_id = :caller")
        elif scope == "public":
            where.append("t.visibility = 'public'")
        else:
            where.append("(t.owner_id = :caller OR t.visibility = 'public')")
        if category:
            where.append("t.category = :category")
            params["category"] = category.strip().lower()
        if tag:
            where.append("t.tags_json LIKE :tag ESCAPE '\\'")
            params["tag"] = _like(json.dumps(tag.strip().lower()))
        if search:
            where.append(
                "(LOWER(t.name) LIKE :q ESCAPE '\\' OR LOWER(t.description) LIKE :q ESCAPE '\\'"
                " OR LOWER(t.slug) LIKE :q ESCAPE '\\')"
            )
            params["q"] = _like(search.strip())
        order = f"{POPULARITY} DESC, t.id DESC" if sort == "popular" else "t.updated_at DESC, t.id DESC"
        sql = (
            f"SELECT {_COLUMNS} FROM templates t WHERE {' AND '.join(where)}"
            f" ORDER BY {order} LIMIT :limit OFFSET :offset"
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(text(sql), params)).all()
        return [TemplateSummary(**_summary(r, caller_id)) for r in rows]

    # --- writing --------------------------------------------------------------------------------

    async def create(self, caller: Principal, spec: TemplateCreate) -> TemplateDetail:
        variables = declare(spec.variables)
        check_body(spec.body, variables)
        if spec.visibility == "public":
            caller.require(PUBLISH_PERMISSION)
        template_id, now = new_id("tpl"), now_ms()
        try:
            await self._insert(caller, spec, variables, template_id, now)
        except IntegrityError:
            raise _slug_race(spec.slug) from None
        return await self.get(caller.user_id, template_id)

    async def _insert(
        self, caller: Principal, spec: TemplateCreate, variables: builtins.list[Variable], template_id: str, now: int
    ) -> None:
        async with self.db.write() as conn:
            slug = await self._free_slug(conn, caller.user_id, spec.slug, spec.name)
            await conn.execute(
                text(
                    "INSERT INTO templates (id, owner_id, name, slug, description, category, tags_json, visibility,"
                    " default_model, params_json, current_version, created_at, updated_at)"
                    " VALUES (:id, :owner, :name, :slug, :description, :category, :tags, :visibility,"
                    " :model, :params, 1, :now, :now)"
                ),
                {
                    "id": template_id,
                    "owner": caller.user_id,
                    "name": spec.name,
                    "slug": slug,
                    "description": spec.description,
                    "category": spec.category,
                    "tags": json.dumps(spec.tags),
                    "visibility": spec.visibility,
                    "model": spec.default_model,
                    "params": json.dumps(spec.params),
                    "now": now,
                },
            )
            await add_version(conn, template_id, 1, spec.body, variables, caller.user_id, now)

    async def update(self, caller: Principal, template_id: str, patch: TemplateUpdate) -> TemplateDetail:
        """Change metadata in place; a changed body or variables make a new version."""
        if patch.visibility == "public":
            caller.require(PUBLISH_PERMISSION)
        fields = patch.model_dump(exclude_unset=True)
        with _saving_races(patch.slug):
            await self._update(caller, template_id, patch, fields)
        return await self.get(caller.user_id, template_id)

    async def _update(self, caller: Principal, template_id: str, patch: TemplateUpdate, fields: dict[str, Any]) -> None:
        async with self.db.write() as conn:
            row = await self._owned_row(conn, caller.user_id, template_id)
            unpublishing = fields.keys() == {"visibility"} and fields["visibility"] == "private"
            if row.visibility == "public" and not unpublishing:
                # What everyone sees changes only by someone who may still publish (a demoted owner
                # can take it down, or delete it, but not rewrite it in public).
                caller.require(PUBLISH_PERMISSION)
            now = now_ms()
            sets: dict[str, Any] = {}
            for key in ("name", "description", "category", "visibility", "default_model"):
                if key in fields and (fields[key] is not None or key == "default_model"):
                    sets[key] = fields[key]
            if fields.get("tags") is not None:
                sets["tags_json"] = json.dumps(patch.tags)
            if fields.get("params") is not None:
                sets["params_json"] = json.dumps(patch.params)
            if fields.get("slug") is not None and patch.slug != row.slug:
                sets["slug"] = await self._free_slug(conn, caller.user_id, patch.slug, row.name)
            if patch.body is not None or patch.variables is not None:
                current = version_info(await version_row(conn, template_id, row.current_version))
                body = patch.body if patch.body is not None else current.body
                variables = declare(patch.variables) if patch.variables is not None else current.variables
                check_body(body, variables)
                if body != current.body or variables_json(variables) != variables_json(current.variables):
                    new = row.current_version + 1
                    await add_version(conn, template_id, new, body, variables, caller.user_id, now)
                    sets["current_version"] = new
            if sets:
                sets["updated_at"] = now
                assignments = ", ".join(f"{k} = :{k}" for k in sets)
                await conn.execute(
                    text(f"UPDATE templates SET {assignments} WHERE id = :id"), {**sets, "id": template_id}
                )

    async def restore(self, caller: Principal, template_id: str, version: int) -> TemplateDetail:
        """Make an old version current again, as a new version that copies it (history stays linear)."""
        with _saving_races(None):
            await self._restore(caller, template_id, version)
        return await self.get(caller.user_id, template_id)

    async def _restore(self, caller: Principal, template_id: str, version: int) -> None:
        async with self.db.write() as conn:
            row = await self._owned_row(conn, caller.user_id, template_id)
            if row.visibility == "public":
                caller.require(PUBLISH_PERMISSION)
            old = version_info(await version_row(conn, template_id, version))
            new, now = row.current_version + 1, now_ms()
            await add_version(
                conn, template_id, new, old.body, old.variables, caller.user_id, now, restored_from=version
            )
            await conn.execute(
                text("UPDATE templates SET current_version = :v, updated_at = :now WHERE id = :id"),
                {"v": new, "now": now, "id": template_id},
            )

    async def delete(self, caller: Principal, template_id: str) -> None:
        async with self.db.write() as conn:
            await self._owned_row(conn, caller.user_id, template_id)
            await conn.execute(text("DELETE FROM templates WHERE id = :id"), {"id": template_id})

    async def fork(self, caller: Principal, template_id: str, *, name: str | None = None) -> TemplateDetail:
        """Copy a visible template's current version into the caller's library, as a private v1."""
        new_template = new_id("tpl")
        with _saving_races(None):
            await self._fork(caller, template_id, new_template, name)
        return await self.get(caller.user_id, new_template)

    async def _fork(self, caller: Principal, template_id: str, new_template: str, name: str | None) -> None:
        now = now_ms()
        async with self.db.write() as conn:
            src = await self._visible_row(conn, caller.user_id, template_id)
            ver = version_info(await version_row(conn, src.id, src.current_version))
            slug = await self._free_slug(conn, caller.user_id, None, name or src.slug)
            await conn.execute(
                text(
                    "INSERT INTO templates (id, owner_id, name, slug, description, category, tags_json, visibility,"
                    " default_model, params_json, current_version, forked_from, created_at, updated_at)"
                    " SELECT :new, :owner, :name, :slug, description, category, tags_json, 'private',"
                    " default_model, params_json, 1, id, :now, :now FROM templates WHERE id = :src"
                ),
                {
                    "new": new_template,
                    "owner": caller.user_id,
                    "name": name or src.name,
                    "slug": slug,
                    "now": now,
                    "src": template_id,
                },
            )
            await add_version(conn, new_template, 1, ver.body, ver.variables, caller.user_id, now)
            if src.owner_id != caller.user_id:
                await conn.execute(
                    text("UPDATE templates SET fork_count = fork_count + 1 WHERE id = :id"), {"id": template_id}
                )

    # --- helpers --------------------------------------------------------------------------------

    async def _free_slug(self, conn: AsyncConnection, owner_id: str, wanted: str | None, name: str) -> str:
        """An explicit slug must be free; a derived one gets `-2`, `-3`... until it is."""
        taken = {
            r[0] for r in await conn.execute(text("SELECT slug FROM templates WHERE owner_id = :o"), {"o": owner_id})
        }
        if wanted is not None:
            if wanted in taken:
                raise TemplateSlugTaken(f"you already have a template '{wanted}'", details={"slug": wanted})
            return wanted
        base = slugify(name)
        slug, n = base, 1
        while slug in taken:
            n += 1
            slug = f"{base}-{n}"
        return slug


@contextlib.contextmanager
def _saving_races(slug: str | None) -> Iterator[None]:
    """Two saves that race (PostgreSQL: both read version N, or both took one free slug) meet a
    unique index; the loser gets a clear 409 to retry, never a 500."""
    try:
        yield
    except IntegrityError:
        if slug:
            raise _slug_race(slug) from None
        raise Conflict("the template changed while saving; try again", details={"retry": True}) from None


def _slug_race(slug: str | None) -> TemplateSlugTaken:
    # Two saves raced for one slug and the unique index refused the second.
    return TemplateSlugTaken("that slug was just taken; try again", details={"slug": slug})
