// Reload the dashboard's panels in place every few seconds, without a full page load.
"use strict";
(function () {
  const panels = document.getElementById("sched-panels");
  if (!panels) return;
  const every = Number(panels.dataset.refreshSeconds || 10) * 1000;
  const updated = document.getElementById("sched-updated");
  async function refresh() {
    try {
      const url = new URL(window.location.href);
      url.searchParams.set("panels", "1");
      const response = await fetch(url, {
        credentials: "same-origin",
        redirect: "manual",
        headers: { "X-Requested-With": "fetch" },
      });
      if (response.type === "opaqueredirect") {
        // Signed out (the session ended): the full page shows the login form.
        window.location.reload();
        return;
      }
      if (!response.ok) throw new Error(response.status);
      panels.innerHTML = await response.text();
      if (updated) updated.textContent = "updated " + new Date().toLocaleTimeString();
    } catch (error) {
      if (updated) updated.textContent = "refresh failed (" + error.message + "), retrying";
    } finally {
      window.setTimeout(refresh, every);
    }
  }
  window.setTimeout(refresh, every);
})();
