// The balance card; "Top up" lists the credit packages (buy_credits) and opens the chosen checkout.
function renderBalance(result) {
  const b = result.structuredContent, extra = (result._meta || {})["smarthub/view"] || {};
  if (result.isError || !b) return failed(((result.content || [])[0] || {}).text || "No balance to show.");
  const offers = h("div", {class: "row", "aria-live": "polite"}), spent = h("dd", {}, "…");
  show(h("section", {class: "card"},
    h("h1", {}, "Credits"),
    h("p", {class: "big"}, credits(b.available)), h("p", {class: "muted"}, "available to spend"),
    h("dl", {}, h("dt", {}, "Balance"), h("dd", {}, credits(b.balance)), h("dt", {}, "Held"), h("dd", {}, credits(b.held)),
      h("dt", {}, "Spent, last 7 days"), spent),
    h("div", {class: "row"}, h("button", {type: "button", class: "primary", onclick: () => topUp(offers)}, "Top up")),
    offers));
  if (extra.spent_last_7_days !== undefined) spent.textContent = credits(extra.spent_last_7_days);
  else weekFromUsage(spent);
}
// Where the host did not say it declared MCP Apps (no figure in _meta), the week's spend is summed
// from get_usage: its last 100 calls, so "at least" when all of them fall within the week.
async function weekFromUsage(cell) {
  try {
    const calls = ((await bridge.callTool("get_usage", {limit: 100})).structuredContent || {}).calls || [];
    const since = Date.now() - 7 * 86400000, week = calls.filter((c) => c.at >= since);
    const micro = week.reduce((sum, c) => sum + Math.round(Number(c.credits) * 1e6), 0);
    cell.textContent = (week.length === 100 ? "at least " : "") + credits(String(micro / 1e6));
  } catch (err) { cell.textContent = "unknown"; }
}
async function topUp(offers) {
  offers.replaceChildren(h("span", {class: "muted"}, "Loading packages…"));
  try {
    const listed = (await bridge.callTool("buy_credits", {})).structuredContent;
    if (!listed || !listed.available) { offers.replaceChildren(h("p", {class: "error"}, (listed && listed.unavailable_reason) || "Buying credits is not available.")); return; }
    offers.replaceChildren(...listed.packages.map((p) => h("button", {type: "button", onclick: (e) => checkout(e.target, p.id)},
      p.name + " · " + credits(p.credits) + " · " + p.price)));
  } catch (err) { offers.replaceChildren(h("p", {class: "error", role: "alert"}, err.message)); }
}
async function checkout(button, packageId) {
  button.disabled = true;
  try {
    const result = await bridge.callTool("buy_credits", {package_id: packageId});
    const url = result.structuredContent && result.structuredContent.checkout_url;
    if (!url) throw new Error(((result.content || [])[0] || {}).text || "No checkout link.");
    await bridge.openLink(url);
  } catch (err) { button.after(h("p", {class: "error", role: "alert"}, err.message)); } finally { button.disabled = false; }
}
