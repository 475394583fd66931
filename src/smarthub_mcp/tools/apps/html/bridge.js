// The view's side of the MCP Apps bridge: JSON-RPC 2.0 over postMessage with the host (no SDK).
const bridge = (() => {
  let seq = 0;
  const pending = new Map(), handlers = {};
  const post = (msg) => window.parent.postMessage({jsonrpc: "2.0", ...msg}, "*");
  window.addEventListener("message", (event) => {
    const m = event.data;
    if (event.source !== window.parent || !m || m.jsonrpc !== "2.0") return;
    if (m.method === undefined) {
      const p = pending.get(m.id);
      if (p) { pending.delete(m.id); m.error ? p.reject(new Error(m.error.message || "refused")) : p.resolve(m.result || {}); }
      return;
    }
    if (m.method === "ui/resource-teardown" && m.id !== undefined) post({id: m.id, result: {}});
    if (m.method === "ui/notifications/host-context-changed") theme(m.params || {});
    const handler = handlers[m.method];
    if (handler) handler(m.params || {});
  });
  function request(method, params) {
    const id = ++seq;
    post({id, method, params});
    return new Promise((resolve, reject) => {
      pending.set(id, {resolve, reject});
      setTimeout(() => { if (pending.delete(id)) reject(new Error("the host did not answer")); }, 60000);
    });
  }
  function theme(context) {
    if (context.theme) document.documentElement.dataset.theme = context.theme;
    const vars = (context.styles || {}).variables || {};
    for (const [name, value] of Object.entries(vars)) if (value) document.documentElement.style.setProperty(name, value);
  }
  let last = "";
  const size = () => {
    const el = document.documentElement, now = Math.ceil(el.scrollWidth) + "x" + Math.ceil(el.scrollHeight);
    if (now !== last) { last = now; post({method: "ui/notifications/size-changed", params: {width: el.scrollWidth, height: el.scrollHeight}}); }
  };
  return {
    on(method, fn) { handlers[method] = fn; },
    async start(name) {
      const init = await request("ui/initialize", {protocolVersion: "2026-01-26", appInfo: {name, version: "1"}, appCapabilities: {}});
      theme(init.hostContext || {});
      post({method: "ui/notifications/initialized", params: {}});
      new ResizeObserver(size).observe(document.body);
      return init;
    },
    callTool(name, args) { return request("tools/call", {name, arguments: args || {}}); },
    openLink(url) { return request("ui/open-link", {url}); },
  };
})();
// A DOM node from a tag, attributes and children; text always goes in as text, never as markup.
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v); else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}
function credits(s) { const n = Number(s); return (Number.isFinite(n) ? n.toLocaleString(undefined, {maximumFractionDigits: 6}) : s) + " credits"; }
function show(...nodes) { document.getElementById("app").replaceChildren(...nodes.filter((n) => n)); }
function failed(message) { show(h("p", {class: "error", role: "alert"}, message)); }
