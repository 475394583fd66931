"""The MCP Apps views: which tool shows which `ui://` resource, the HTML of each, and its CSP.

Each view is one self-contained HTML document assembled once from the files beside this module (a
stylesheet, the postMessage bridge, the view's script): no CDN, no build step. The media views share
one kit and differ in what they are bound to. A view's CSP allows only the storage's origins (its
images and videos are signed links there); it loads nothing else and connects nowhere: it reaches
the server only through the host's `tools/call`, and only for the tools in `calls`, which need no
permission beyond the one of the tools it shows.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

from mcp.server.apps import Apps, ResourceCsp

HTML = resources.files(__package__) / "html"

DOCUMENT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{title}</title><style>{css}</style></head>
<body><main id="app" aria-live="polite"><p class="muted">Loading…</p></main>
<script>
{script}
bridge.on("ui/notifications/tool-result", {render});
bridge.start("smarthub-{name}").catch((err) => failed("Could not reach the host: " + err.message));
</script></body></html>
"""


@dataclass(frozen=True)
class View:
    name: str
    title: str
    description: str
    scripts: tuple[str, ...]
    render: str
    """The script's function that draws a tool result."""
    tools: tuple[str, ...]
    """The tools whose results it shows (their `_meta.ui.resourceUri` names it)."""
    calls: tuple[str, ...]
    """The tools it calls back through the host."""

    @property
    def uri(self) -> str:
        return f"ui://smarthub/{self.name}.html"


_MEDIA = ("bridge.js", "media.js")
VIEWS: tuple[View, ...] = (
    View("gallery", "Images", "Generated images as a gallery: thumbnails, full size, download; a job card while"
         " they are made.", _MEDIA, "renderResult", ("generate_image", "list_media"), ("get_job",)),
    View("player", "Video", "A generated video in a player with its poster frame; a job card with live progress"
         " while it is made.", _MEDIA, "renderResult", ("generate_video",), ("get_job",)),
    View("job", "Generation job", "A generation job: live progress while it runs, then its images or video.",
         _MEDIA, "renderResult", ("get_job",), ("get_job",)),
    View("balance", "Credits", "The credit balance: available, held, spent in the last 7 days, and a top-up"
         " button that opens a checkout.", ("bridge.js", "balance.js"), "renderBalance", ("get_balance",),
         ("buy_credits", "get_usage")),
)
VIEW_OF_TOOL: dict[str, View] = {tool: view for view in VIEWS for tool in view.tools}


@functools.cache
def document(view: View) -> str:
    """The view's HTML, read from the package once."""
    script = "\n".join((HTML / name).read_text(encoding="utf-8") for name in view.scripts)
    css = (HTML / "base.css").read_text(encoding="utf-8")
    return DOCUMENT.format(title=view.title, css=css, script=script, render=view.render, name=view.name)


CALLED_BY_VIEWS = frozenset(name for view in VIEWS for name in view.calls)


def tool_meta(tool: str) -> dict[str, object] | None:
    """The `_meta` a tool is listed with: a tool with a view names it (ChatGPT's Apps SDK also reads
    `openai/outputTemplate`); a tool a view calls says so to ChatGPT builds that predate MCP Apps
    (`openai/widgetAccessible`; MCP Apps hosts let a view call any tool of its server by default)."""
    meta: dict[str, object] = {}
    view = VIEW_OF_TOOL.get(tool)
    if view is not None:
        meta.update({"ui": {"resourceUri": view.uri}, "openai/outputTemplate": view.uri})
    if tool in CALLED_BY_VIEWS:
        meta["openai/widgetAccessible"] = True
    return meta or None


def build_apps(storage_origins: list[str]) -> Apps:
    """The MCP Apps extension with every view, each allowed to load from the storage's origins only."""
    apps = Apps()
    csp = ResourceCsp(resource_domains=list(storage_origins))
    for view in VIEWS:
        apps.add_html_resource(view.uri, document(view), name=view.name, title=f"SmartHub: {view.title}",
                               description=view.description, csp=csp, prefers_border=False)
    return apps
