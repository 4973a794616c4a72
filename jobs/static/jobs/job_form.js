// The job form: show only the schedule fields of the chosen type, and the payload schema
// and an example of the chosen handler (starting an untouched payload from it); ask
// before destructive object actions.
"use strict";
(function () {
  const FIELDS = { once: "run_at", interval: "interval_seconds", cron: "cron" };
  function row(name) { return document.querySelector(".field-" + name); }
  function chosenType() {
    const checked = document.querySelector('input[name="schedule_type"]:checked');
    return checked ? checked.value : null;
  }
  function showSchedule() {
    const type = chosenType();
    if (!type) return;
    for (const [kind, name] of Object.entries(FIELDS)) {
      const el = row(name);
      if (el) el.style.display = kind === type ? "" : "none";
    }
    const misfire = row("misfire_policy");
    if (misfire) misfire.style.display = type === "once" ? "none" : "";
  }
  // A payload box left as it started ({} or an earlier example) takes the new example.
  let lastExample = null;
  function untouched(payload) {
    const text = payload.value.trim();
    return text === "" || text === "{}" || text === lastExample;
  }
  function showSchema() {
    const data = document.getElementById("sched-handler-schemas");
    const select = document.getElementById("id_handler");
    const box = document.querySelector(".sched-schema");
    if (!data || !select || !box) return;
    const handlers = JSON.parse(data.textContent);
    const name = select.value;
    const chosen = handlers[name];
    box.querySelector(".sched-schema-name").textContent = name || "the chosen handler";
    box.querySelector(".sched-schema-body").textContent = chosen
      ? JSON.stringify(chosen.schema, null, 2)
      : "Choose a handler to see the JSON Schema its payload must match.";
    const example = chosen && chosen.example ? JSON.stringify(chosen.example, null, 2) : "";
    box.querySelector(".sched-schema-example").textContent = example;
    box.querySelector(".sched-schema-example-box").hidden = !example;
    const payload = document.getElementById("id_payload");
    if (payload && example && untouched(payload)) payload.value = example;
    lastExample = example || null;
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll('input[name="schedule_type"]').forEach(function (input) {
      input.addEventListener("change", showSchedule);
    });
    const select = document.getElementById("id_handler");
    if (select) select.addEventListener("change", showSchema);
    showSchedule();
  });
  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });
})();
