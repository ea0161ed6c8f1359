// The MCU console (docs/console.md): posts the action forms with the CSRF token, swaps the
// server-rendered fragments on every live update (server-sent events), and drives the
// layout picker (mode icons drawn by the server from mcu/layouts.py; sites dragged into panes).
"use strict";
(function () {
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  if (!csrfMeta) return; // the log-in page
  const csrf = csrfMeta.content;
  const main = document.querySelector("main");
  const selected = main.dataset.conf || "";
  const status = document.getElementById("status");
  const consoleState = { updates: 0, lastResult: null };
  window.mcuConsole = consoleState;

  async function post(action, body) {
    const response = await fetch("/console/action/" + encodeURIComponent(action), {
      method: "POST", body: body, headers: { "X-CSRF-Token": csrf }, credentials: "same-origin",
    });
    let answer = {};
    try { answer = await response.json(); } catch (e) { answer = { message: response.statusText }; }
    consoleState.lastResult = { action: action, status: response.status, answer: answer };
    status.textContent = response.ok ? action + ": done"
      : action + " refused: " + (answer.resultCode || response.status) + " " + (answer.message || "");
    status.className = response.ok ? "ok" : "error";
    refresh();
    return answer;
  }

  document.addEventListener("submit", (event) => {
    const form = event.target.closest("form.act");
    if (!form) return;
    event.preventDefault();
    const body = new URLSearchParams(new FormData(form));
    if (form.dataset.action === "schedule") {
      const begin = body.get("begin");
      body.set("begin", begin ? new Date(begin).toISOString() : "now");
      if (!body.get("frequency")) { body.delete("frequency"); body.delete("count"); }
      const sites = body.getAll("site").map((uri) => uri.trim()).filter(Boolean);
      body.delete("site");
      sites.forEach((uri) => body.append("site", uri));
      post("schedule", body).then((answer) => {
        if (answer.confId) location.href = "/?conf=" + encodeURIComponent(answer.confId);
      });
      return;
    }
    post(form.dataset.action, body);
  });

  // A refresh fetches the page's fragments; `asked` numbers them so that an older answer
  // arriving after a newer one is dropped, not shown over it.
  let pending = null, asked = 0, shown = 0;
  function refresh() {
    if (pending) return;
    pending = setTimeout(async () => {
      pending = null;
      const ask = ++asked;
      const response = await fetch("/console/fragments?conf=" + encodeURIComponent(selected));
      if (response.status === 401) { location.href = "/login"; return; }
      const parts = await response.json();
      if (ask < shown) return;
      shown = ask;
      for (const id of ["conferences", "detail", "terminals"]) {
        document.getElementById(id).innerHTML = parts[id];
      }
      if (!document.getElementById("layout-picker") && parts.picker) location.reload();
      consoleState.updates += 1;
    }, 150);
  }
  const events = new EventSource("/console/events");
  // Once subscribed (and again after a reconnection): a change made between the page's
  // rendering and the subscription sent its event to nobody, so the page asks once.
  events.addEventListener("open", refresh);
  events.addEventListener("changed", refresh);

  // --- the layout picker ----------------------------------------------------------------
  const picker = document.getElementById("layout-picker");
  if (!picker) return;
  const canvas = document.getElementById("pane-canvas");
  const current = JSON.parse(picker.dataset.current);
  let mode = current.mode, panes = current.panes.slice();

  function draw(button) {
    const rects = JSON.parse(button.dataset.panes);
    picker.querySelectorAll(".mode").forEach((b) => b.classList.toggle("selected", b === button));
    canvas.innerHTML = "";
    panes = rects.map((_, i) => panes[i] || "");
    rects.forEach(([x, y, w, h], i) => {
      const pane = document.createElement("div");
      pane.className = "pane";
      pane.dataset.pane = String(i);
      Object.assign(pane.style, { left: x * 100 + "%", top: y * 100 + "%", width: w * 100 + "%",
        height: h * 100 + "%", zIndex: String(i + 1) });
      pane.textContent = (i + 1) + ": " + (panes[i] || "empty");
      pane.addEventListener("dragover", (e) => { e.preventDefault(); pane.classList.add("over"); });
      pane.addEventListener("dragleave", () => pane.classList.remove("over"));
      pane.addEventListener("drop", (e) => {
        e.preventDefault(); pane.classList.remove("over");
        panes[i] = e.dataTransfer.getData("text/plain");
        pane.textContent = (i + 1) + ": " + panes[i];
      });
      canvas.appendChild(pane);
    });
  }
  picker.addEventListener("click", (event) => {
    const button = event.target.closest(".mode");
    if (!button) return;
    mode = Number(button.dataset.mode);
    draw(button);
  });
  document.addEventListener("dragstart", (event) => {
    const chip = event.target.closest && event.target.closest(".chip");
    if (chip) event.dataTransfer.setData("text/plain", chip.dataset.uri);
  });
  document.getElementById("layout-apply").addEventListener("click", () => {
    const body = new URLSearchParams();
    body.set("confId", picker.dataset.conf);
    body.set("target", document.getElementById("layout-target").value);
    body.set("mode", String(mode));
    panes.forEach((uri) => body.append("pane", uri));
    post("layout", body);
  });
  const start = picker.querySelector('.mode[data-mode="' + mode + '"]');
  if (start) draw(start);
})();
