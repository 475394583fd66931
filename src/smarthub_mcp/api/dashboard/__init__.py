"""The web dashboard: server-rendered pages (Jinja2 templates in `templates/`, a stylesheet and a
small script in `static/`) for users and admins, signed in with the browser session the OAuth pages
set. `routes()` is the list app.py mounts."""

from __future__ import annotations

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    from smarthub_mcp.api.dashboard import (
        account,
        admin_moderation,
        admin_money,
        admin_ops,
        admin_sales,
        admin_users,
        apps,
        credits,
        home,
        keys,
        media_pages,
        signin,
        static,
        templates_edit,
        templates_pages,
    )

    return [*static.routes, *signin.routes, *home.routes, *keys.routes, *credits.routes, *admin_money.routes,
            *admin_users.routes, *templates_edit.routes, *templates_pages.routes, *media_pages.routes, *apps.routes,
            *admin_ops.routes, *admin_moderation.routes, *admin_sales.routes, *account.routes]
