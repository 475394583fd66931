"""The dashboard's own stylesheet and script, served from the package (no CDN, no build step)."""

from __future__ import annotations

import hashlib
from importlib import resources

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_TYPES = {"css": "text/css; charset=utf-8", "js": "text/javascript; charset=utf-8"}
FILES = {name: (resources.files(__package__).joinpath("static", name).read_bytes(), _TYPES[name.rsplit(".", 1)[1]])
         for name in ("app.css", "app.js")}
ETAGS = {name: '"' + hashlib.sha256(body).hexdigest()[:16] + '"' for name, (body, _) in FILES.items()}


async def static_file(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in FILES:
        raise HTTPException(404)
    body, media_type = FILES[name]
    headers = {"ETag": ETAGS[name], "Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"}
    if request.headers.get("if-none-match") == ETAGS[name]:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


routes = [Route("/dashboard/static/{name}", static_file, methods=["GET"])]
