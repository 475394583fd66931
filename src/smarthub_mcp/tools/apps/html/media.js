// Images, videos and jobs: the pieces the gallery, player and job views share.
const RUNNING = ["queued", "submitting", "running", "unknown"];
function label(m) { return (m.prompt || m.media_id).slice(0, 120); }
function download(m) {
  return h("button", {type: "button", "aria-label": "Download " + label(m), onclick: () => bridge.openLink(m.url)}, "Download");
}
function ratio(m) { return m.width && m.height ? "--ratio:" + m.width + "/" + m.height : null; }
function viewer() {
  let dialog = document.getElementById("viewer");
  if (!dialog) { dialog = h("dialog", {id: "viewer", "aria-label": "Full-size image"}); document.body.append(dialog); }
  return dialog;
}
function openFull(m) {
  const dialog = viewer();
  dialog.replaceChildren(h("img", {src: m.url, alt: label(m)}),
    h("div", {class: "row"}, download(m), h("button", {type: "button", onclick: () => dialog.close()}, "Close")));
  dialog.showModal();
}
function figure(m) {
  if (m.status === "deleted" || !m.url) return h("figure", {}, h("figcaption", {}, h("span", {class: "muted"}, m.media_id + " (deleted)")));
  const body = m.kind === "video"
    ? h("video", {src: m.url, poster: m.preview_url, controls: true, preload: "none", playsinline: true, style: ratio(m), "aria-label": label(m)})
    : h("button", {type: "button", class: "open", "aria-label": "Open full size: " + label(m), onclick: () => openFull(m)},
        h("img", {src: m.preview_url || m.url, alt: label(m), loading: "lazy", style: ratio(m)}));
  return h("figure", {}, body, h("figcaption", {}, h("span", {title: m.prompt}, label(m)), download(m)));
}
function gallery(items, heading) {
  if (!items.length) return [h("p", {class: "muted"}, "Nothing here yet.")];
  return [h("h1", {}, heading), h("ul", {class: "grid"}, items.map((m) => h("li", {}, figure(m))))];
}
function player(m) {
  return h("figure", {},
    h("video", {class: "player", src: m.url, poster: m.preview_url, controls: true, preload: "none", playsinline: true, "aria-label": label(m)}),
    h("figcaption", {}, h("span", {title: m.prompt}, label(m)), download(m)));
}
function outputs(job) {
  const heading = job.delivered + " " + job.kind + (job.delivered === 1 ? "" : "s") + " from " + job.model + " · " + credits(job.credits_charged);
  const note = job.flagged ? h("p", {class: "muted"}, job.flagged + " flagged under the content policy, not charged" +
    (job.held_for_review ? " (" + job.held_for_review + " held for review)" : "") + ".") : null;
  if (!job.media.length) return [h("section", {class: "card"}, h("h1", {}, heading), note)];
  if (job.kind === "video") return [h("h1", {}, heading), ...job.media.map(player), note];
  return [...gallery(job.media, heading), note];
}
function jobCard(job) {
  const pct = job.progress === null || job.progress === undefined ? null : job.progress;
  return h("section", {class: "card", "aria-busy": "true"},
    h("h1", {}, "Generating " + (job.kind === "video" ? "a video" : job.count > 1 ? job.count + " images" : "an image")),
    h("p", {}, job.prompt),
    h("progress", {max: 100, value: pct === null ? false : pct, "aria-label": "Progress"}),
    h("dl", {}, h("dt", {}, "Status"), h("dd", {}, job.status + (pct === null ? "" : " · " + pct + "%")),
      h("dt", {}, "Model"), h("dd", {}, job.model), h("dt", {}, "Held"), h("dd", {}, credits(job.credits_held))),
    h("p", {class: "muted"}, job.status_help + "."));
}
function ended(job) {
  const title = job.error_code === "held_for_review" ? "Held for review" : "Job " + job.status;
  return h("section", {class: "card", role: "alert"}, h("h1", {}, title),
    h("p", {class: "error"}, job.error_message || job.status_help), h("p", {class: "muted"}, "Nothing was charged."));
}
let polling = null;
// A job as it stands; while it runs, asks get_job again (through the host) until it ends.
function renderJob(job) {
  if (job.status === "succeeded") show(...outputs(job));
  else if (RUNNING.includes(job.status)) { show(jobCard(job)); poll(job); }
  else show(ended(job));
}
function poll(job) {
  clearTimeout(polling);
  const wait = Math.min(Math.max(job.poll_after_seconds || 5, 2), 30) * 1000;
  polling = setTimeout(async () => {
    try {
      const result = await bridge.callTool("get_job", {job_id: job.job_id});
      if (result.isError || !result.structuredContent) throw new Error(((result.content || [])[0] || {}).text || "get_job failed");
      renderJob(result.structuredContent);
    } catch (err) { show(jobCard(job), h("p", {class: "error", role: "alert"}, "Progress stopped updating: " + err.message)); }
  }, wait);
}
function renderResult(result) {
  const data = result.structuredContent;
  if (result.isError || !data) return failed(((result.content || [])[0] || {}).text || "The tool returned nothing to show.");
  if (Array.isArray(data.items)) return show(...gallery(data.items, "Your media"));
  renderJob(data);
}
