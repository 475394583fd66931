"""A minimal MCP Apps host page for the view tests: it loads a view's HTML in a sandboxed iframe under
the CSP its resource declares (as a host's sandbox does), answers `ui/initialize`, sends the recorded
tool input and result, proxies `tools/call` to the server through a Python function the test exposes
(`hostCallTool`), and records `ui/open-link` instead of opening anything."""

from __future__ import annotations

import json
from typing import Any

HOST = """<!doctype html><html><head><meta charset="utf-8"><title>test host</title>
<style>body{margin:0;background:%(page)s}iframe{display:block;border:0;width:100%%;height:200px}</style></head>
<body><iframe id="view" sandbox="allow-scripts" title="MCP App view"></iframe><script>
const frame = document.getElementById("view"), setup = %(setup)s;
window.opened = []; window.seen = [];
const send = (msg) => frame.contentWindow.postMessage({jsonrpc: "2.0", ...msg}, "*");
window.addEventListener("message", async (event) => {
  if (event.source !== frame.contentWindow) return;
  const m = event.data; window.seen.push(m.method || "response");
  if (m.method === "ui/initialize") send({id: m.id, result: {protocolVersion: "2026-01-26",
      hostInfo: {name: "test-host", version: "1"}, hostCapabilities: {openLinks: {}, serverTools: {}},
      hostContext: {theme: setup.theme, displayMode: "inline", platform: "web"}}});
  else if (m.method === "ui/notifications/initialized") {
    send({method: "ui/notifications/tool-input", params: {arguments: setup.arguments}});
    send({method: "ui/notifications/tool-result", params: setup.result});
  } else if (m.method === "ui/notifications/size-changed") frame.style.height = m.params.height + "px";
  else if (m.method === "tools/call") {
    send({id: m.id, result: await window.hostCallTool(m.params.name, m.params.arguments || {})});
  }
  else if (m.method === "ui/open-link") { window.opened.push(m.params.url); send({id: m.id, result: {}}); }
  else if (m.id !== undefined) send({id: m.id, error: {code: -32601, message: "not supported by this host"}});
});
frame.srcdoc = setup.html;
</script></body></html>"""


def csp_for(declared: dict[str, Any]) -> str:
    """The policy a host builds from a resource's `_meta.ui.csp` (the spec's restrictive defaults
    plus the declared domains)."""
    resources = " ".join(declared.get("resourceDomains", []))
    connect = " ".join(declared.get("connectDomains", [])) or "'none'"
    return (f"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: {resources};"
            f" media-src data: {resources}; connect-src {connect}; frame-src 'none'; base-uri 'self';"
            " object-src 'none'")


def host_page(html: str, declared_csp: dict[str, Any], result: dict[str, Any], arguments: dict[str, Any],
              theme: str) -> str:
    policy = f'<meta http-equiv="Content-Security-Policy" content="{csp_for(declared_csp)}">'
    setup = {"html": html.replace("<head>", "<head>" + policy, 1), "result": result, "arguments": arguments,
             "theme": theme}
    page = "#18181b" if theme == "dark" else "#ffffff"
    return HOST % {"setup": json.dumps(setup).replace("</", "<\\/"), "page": page}
