// SmartHub dashboard: small progressive enhancements. Every page works without this file.
(function () {
  "use strict";
  // Copy buttons: <button data-copy="id-of-element">.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) return;
    navigator.clipboard.writeText(source.textContent).then(function () {
      button.textContent = "Copied";
    });
  });
  // Forms that destroy something ask first: <form data-confirm="Revoke this key?">.
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) event.preventDefault();
  });
  // Jobs in progress: rows with data-job poll /dashboard/jobs/{id}.json until the job ends.
  function poll(row) {
    var id = row.getAttribute("data-job");
    fetch("/dashboard/jobs/" + encodeURIComponent(id) + ".json", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (job) {
        if (!job) return;
        var status = row.querySelector("[data-status]");
        var bar = row.querySelector("progress");
        if (status) status.textContent = job.status;
        if (bar && job.progress != null) bar.value = job.progress;
        if (["succeeded", "failed", "cancelled", "expired"].indexOf(job.status) < 0) {
          setTimeout(function () { poll(row); }, 2000);
        }
      })
      .catch(function () {});
  }
  document.querySelectorAll("[data-job]").forEach(poll);
})();
