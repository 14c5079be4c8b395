// Flowdeck UI: confirmations, and the run page following the run's SSE stream.
"use strict";

document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
});

document.addEventListener("change", (event) => {
  const field = event.target.closest("[data-autosubmit]");
  if (field && field.form) field.form.submit();
});

function setStatus(el, status) {
  if (!el) return;
  el.dataset.status = status;
  const label = el.querySelector(".st");
  if (label) label.textContent = status;
  if (el.classList.contains("badge")) {
    el.className = `badge s-${status}`;
    el.textContent = status;
  }
}

function followRun(root) {
  const runId = root.dataset.runId;
  // `after`: the page already lists the events up to this one; a reconnect sends Last-Event-ID.
  const after = encodeURIComponent(root.dataset.after || "0");
  const source = new EventSource(`/ui/runs/${encodeURIComponent(runId)}/stream?after=${after}`);
  const timeline = document.getElementById("timeline");
  let refreshTimer = null;
  const refreshSteps = () => {
    // The steps table and controls are re-rendered by the server (one fetch per burst of events).
    if (refreshTimer) return;
    refreshTimer = setTimeout(() => {
      refreshTimer = null;
      if (window.htmx) window.htmx.trigger("#run-live", "refresh");
    }, 250);
  };
  const STEP = { step_started: "running", step_completed: "completed", step_failed: "failed",
    step_skipped: "skipped", step_waiting: "waiting", step_retrying: "queued",
    step_approved: "completed", step_rejected: "failed" };
  const RUN = { run_started: "running", run_completed: "completed", run_failed: "failed",
    run_cancelled: "cancelled", run_paused: "paused", run_resumed: "running" };
  const onEvent = (message) => {
    let data = {};
    try { data = JSON.parse(message.data); } catch (_) { return; }
    const type = message.type;
    const stepId = data.step_id;
    if (stepId && STEP[type] && data.item_index === undefined) {
      setStatus(root.querySelector(`svg .node[data-step-id="${CSS.escape(stepId)}"]`), STEP[type]);
    }
    if (RUN[type]) setStatus(document.getElementById("run-status"), RUN[type]);
    if (timeline) {
      const li = document.createElement("li");
      li.textContent = `${type}${stepId ? " · " + stepId : ""}`;
      const seq = document.createElement("code");
      seq.textContent = ` #${message.lastEventId}`;
      li.appendChild(seq);
      timeline.appendChild(li);
    }
    refreshSteps();
    if (type === "run_completed" || type === "run_failed" || type === "run_cancelled") {
      source.close();
      root.dataset.finished = "true";
    }
  };
  for (const t of [...Object.keys(STEP), ...Object.keys(RUN)]) source.addEventListener(t, onEvent);
}

document.addEventListener("DOMContentLoaded", () => {
  const root = document.querySelector("[data-follow-run]");
  if (root && root.dataset.terminal !== "true") followRun(root);
});
