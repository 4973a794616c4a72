// The job form's live schedule preview: as the schedule fields change, ask the server
// (the admin's schedule-preview view, the same selector as the API's) for the next runs in
// the job's timezone, and show them under the schedule, with a warning where the clocks
// change before a run and the field errors of a schedule that cannot run.
"use strict";
(function () {
  const FIELDS = ["schedule_type", "run_at", "interval_seconds", "cron", "timezone"];
  const DELAY_MS = 250; // after the last keystroke
  let timer = null;
  let latest = 0; // answers to older requests are dropped

  function value(name) {
    if (name === "schedule_type") {
      const checked = document.querySelector('input[name="schedule_type"]:checked');
      return checked ? checked.value : "";
    }
    const input = document.querySelector('[name="' + name + '"]');
    return input ? input.value : "";
  }

  function fill(list, items, render) {
    list.replaceChildren(...items.map(function (item) {
      const li = document.createElement("li");
      render(li, item);
      return li;
    }));
  }

  function show(box, body) {
    const errors = body.errors || {};
    fill(box.querySelector(".sched-preview-errors"), Object.entries(errors), function (li, entry) {
      li.textContent = entry[0] + ": " + entry[1].map(function (e) { return e.message; }).join(" ");
    });
    box.querySelector(".sched-preview-description").textContent = body.description || "";
    fill(box.querySelector(".sched-preview-warnings"), body.warnings || [], function (li, text) {
      li.className = "sched-preview-warning";
      li.textContent = "⚠ " + text;
    });
    fill(box.querySelector(".sched-preview-runs"), body.runs || [], function (li, run) {
      li.textContent = run.weekday + " " + run.at + " (UTC" + run.utc_offset + ")";
      if (run.after_clock_change) li.className = "sched-preview-clock-change";
    });
    box.hidden = false;
  }

  function refresh(box) {
    const query = new URLSearchParams();
    FIELDS.forEach(function (name) { query.set(name, value(name)); });
    const mine = ++latest;
    fetch(box.dataset.url + "?" + query, { credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (body) { if (mine === latest) show(box, body); })
      .catch(function () { /* the next change asks again */ });
  }

  document.addEventListener("DOMContentLoaded", function () {
    const box = document.getElementById("sched-preview");
    const cron = document.querySelector(".field-cron");
    if (!box || !cron) return;
    cron.closest("fieldset").appendChild(box); // under the schedule fields
    const later = function () {
      clearTimeout(timer);
      timer = setTimeout(function () { refresh(box); }, DELAY_MS);
    };
    FIELDS.forEach(function (name) {
      document.querySelectorAll('[name="' + name + '"]').forEach(function (input) {
        input.addEventListener("input", later);
        input.addEventListener("change", later);
      });
    });
    refresh(box);
  });
})();
