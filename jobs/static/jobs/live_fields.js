// An execution's page while it is queued or running: its progress, log and state are read
// again every two seconds (the page fetched anew, those fields swapped in) until it ends.
"use strict";
(function () {
  const FIELDS = ["state_badge", "progress_display", "log_display", "started_at",
    "finished_at", "duration_display", "result_display", "error_display"];
  const EVERY_MS = 2000;
  function cell(doc, name) { return doc.querySelector(".field-" + name + " .readonly"); }
  function live(doc) { return doc.querySelector("[data-sched-live]") !== null; }
  async function refresh() {
    let doc;
    try {
      const response = await fetch(window.location.href, { credentials: "same-origin" });
      if (!response.ok) return setTimeout(refresh, EVERY_MS);
      doc = new DOMParser().parseFromString(await response.text(), "text/html");
    } catch (error) {
      return setTimeout(refresh, EVERY_MS);  // a network blip: try again
    }
    for (const name of FIELDS) {
      const now = cell(document, name);
      const next = cell(doc, name);
      if (now && next && now.innerHTML !== next.innerHTML) now.innerHTML = next.innerHTML;
    }
    const log = document.querySelector(".field-log_display pre");
    if (log) log.scrollTop = log.scrollHeight;  // the newest lines in view
    if (live(doc)) setTimeout(refresh, EVERY_MS);
  }
  document.addEventListener("DOMContentLoaded", function () {
    if (live(document)) setTimeout(refresh, EVERY_MS);
  });
})();
