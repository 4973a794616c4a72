// A page that follows something still going on: an execution while it is queued or running,
// a job while it is scheduled. A server-rendered marker, data-sched-live, names the fields to
// follow and data-sched-every how often (ms); the page is fetched anew and those fields are
// swapped in, until a fetched page no longer carries the marker. Forms are left alone.
"use strict";
(function () {
  const HIDDEN_RETRY_MS = 1000;
  function marker(doc) { return doc.querySelector("[data-sched-live]"); }
  function cell(doc, name) { return doc.querySelector(".field-" + name + " .readonly"); }
  function schedule(doc) {
    const found = marker(doc);
    if (!found) return;
    const every = parseInt(found.dataset.schedEvery, 10) || 2000;
    setTimeout(function () { refresh(found.dataset.schedLive.split(/\s+/), every); }, every);
  }
  async function refresh(fields, every) {
    if (document.hidden) {  // a tab in the background asks nothing of the server
      return setTimeout(function () { refresh(fields, every); }, HIDDEN_RETRY_MS);
    }
    let doc;
    try {
      const response = await fetch(window.location.href, { credentials: "same-origin" });
      if (!response.ok) return setTimeout(function () { refresh(fields, every); }, every);
      doc = new DOMParser().parseFromString(await response.text(), "text/html");
    } catch (error) {
      return setTimeout(function () { refresh(fields, every); }, every);  // a network blip
    }
    for (const name of fields) {
      const now = cell(document, name);
      const next = cell(doc, name);
      if (now && next && now.innerHTML !== next.innerHTML) now.innerHTML = next.innerHTML;
    }
    const log = document.querySelector(".field-log_display pre");
    if (log) log.scrollTop = log.scrollHeight;  // the newest lines in view
    schedule(doc);
  }
  document.addEventListener("DOMContentLoaded", function () { schedule(document); });
})();
