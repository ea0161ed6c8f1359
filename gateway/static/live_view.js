// The console's live view (docs/console.md, "Live view"): a receive-only WebRTC viewer of
// the selected conference, and its health plot.
//
// Watch: POST /console/live/open (confId, view) -> the MCU's offer (one sendonly H.264
// m-line per screen of the viewpoint, a content m-line for a site's view, Opus); the page
// answers once ICE gathering is complete (no trickle, as the browser terminal) with POST
// /console/live/answer. Each video track gets a <video> side by side (screen 1, 2, 3,
// content), the audio plays from the first. Stop (or leaving the page) closes the viewer.
// Health: GET /console/health?conf=ID every 2 s; the plot is an SVG drawn here.
"use strict";
(function () {
  const section = document.getElementById("live-view");
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  if (!section || section.hidden || !csrfMeta) return;
  const csrf = csrfMeta.content;
  const conf = section.dataset.conf;
  const screens = document.getElementById("live-screens");
  const stateText = document.getElementById("live-state");
  const watchButton = document.getElementById("live-watch");
  const stopButton = document.getElementById("live-stop");
  const live = { viewer: null, pc: null, state: "idle", tracks: [], error: null };
  window.liveView = live;

  function setState(state, text) {
    live.state = state;
    stateText.textContent = text || state;
    section.dataset.state = state;
  }

  async function call(name, fields) {
    const body = new URLSearchParams(fields);
    const response = await fetch("/console/live/" + name, {
      method: "POST", body: body, headers: { "X-CSRF-Token": csrf }, credentials: "same-origin",
    });
    let answer = {};
    try { answer = await response.json(); } catch (e) { answer = { message: response.statusText }; }
    if (!response.ok) throw new Error((answer.resultCode || response.status) + " " + (answer.message || ""));
    return answer;
  }

  function gathered(pc) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      pc.addEventListener("icegatheringstatechange", () => {
        if (pc.iceGatheringState === "complete") resolve();
      });
    });
  }

  function labelOf(index, count, site) {
    if (!site) return "conference picture";
    if (index === count - 1) return "content";
    return index === 0 ? "main screen" : "screen " + (index + 1);
  }

  async function watch() {
    // The state and tracks change before the first await: a reader polling them after the
    // click never sees the previous viewer's "watching" as this one's.
    const view = document.getElementById("live-viewpoint").value;
    setState("opening", "opening " + view);
    live.tracks = [];
    watchButton.disabled = true;
    await stop(true);
    try {
      const opened = await call("open", { confId: conf, view: view });
      live.viewer = opened.viewer;
      const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
      live.pc = pc;
      const videos = [];
      let audio = null;
      pc.addEventListener("track", (event) => {
        if (event.track.kind === "audio") audio = event.track; else videos.push(event.track);
      });
      await pc.setRemoteDescription({ type: "offer", sdp: opened.sdp });
      await pc.setLocalDescription(await pc.createAnswer());
      await gathered(pc);
      await call("answer", { viewer: live.viewer, sdp: pc.localDescription.sdp });
      screens.innerHTML = "";
      live.tracks = [];
      videos.forEach((track, index) => {
        const figure = document.createElement("figure");
        const video = document.createElement("video");
        video.autoplay = true; video.playsInline = true; video.muted = index !== 0;
        video.dataset.screen = String(index);
        const tracks = index === 0 && audio ? [track, audio] : [track];
        video.srcObject = new MediaStream(tracks);
        const caption = document.createElement("figcaption");
        caption.textContent = labelOf(index, videos.length, view !== "conference");
        figure.append(video, caption);
        screens.appendChild(figure);
        live.tracks.push(caption.textContent);
      });
      live.audio = audio;
      pc.addEventListener("connectionstatechange", () => {
        if (live.pc !== pc) return;  // a closed viewer's late event
        if (pc.connectionState === "connected") setState("watching", "watching " + view);
        if (pc.connectionState === "failed") setState("failed", "the connection failed");
      });
      setState(pc.connectionState === "connected" ? "watching" : "connecting", "connecting");
      stopButton.disabled = false;
    } catch (error) {
      live.error = String(error.message || error);
      setState("error", "refused: " + live.error);
      await stop(true);
    } finally {
      watchButton.disabled = false;
    }
  }

  async function stop(keepState) {
    const viewer = live.viewer, pc = live.pc;
    live.viewer = null; live.pc = null;
    if (pc) pc.close();
    if (viewer) { try { await call("close", { viewer: viewer }); } catch (e) { /* gone already */ } }
    screens.querySelectorAll("video").forEach((video) => { video.srcObject = null; });
    screens.innerHTML = "";
    stopButton.disabled = true;
    if (!keepState) setState("idle", "not watching");
  }

  // What a test reads: one screen's picture as RGBA pixels (base64), and the audio level.
  live.grab = (index) => {
    const video = screens.querySelector('video[data-screen="' + (index || 0) + '"]');
    if (!video || !video.videoWidth) return null;
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth; canvas.height = video.videoHeight;
    const context = canvas.getContext("2d");
    context.drawImage(video, 0, 0);
    const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
    let text = "";
    for (let i = 0; i < pixels.length; i += 0x8000) {
      text += String.fromCharCode.apply(null, pixels.subarray(i, i + 0x8000));
    }
    return { width: canvas.width, height: canvas.height, rgba: btoa(text) };
  };
  live.audioRms = async (millis) => {
    if (!live.audio) return null;
    const context = new AudioContext();
    await context.resume();
    const source = context.createMediaStreamSource(new MediaStream([live.audio]));
    const analyser = context.createAnalyser();
    analyser.fftSize = 2048;
    source.connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    let sum = 0, count = 0;
    const end = performance.now() + (millis || 1000);
    while (performance.now() < end) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      analyser.getFloatTimeDomainData(samples);
      for (const value of samples) { sum += value * value; count += 1; }
    }
    await context.close();
    return Math.sqrt(sum / count);
  };

  watchButton.addEventListener("click", watch);
  stopButton.addEventListener("click", () => stop());
  window.addEventListener("pagehide", () => {
    if (!live.viewer) return;
    const body = new URLSearchParams({ viewer: live.viewer, csrf: csrf });
    navigator.sendBeacon("/console/live/close", body);
  });

  // --- health ------------------------------------------------------------------------------
  const plot = document.getElementById("health-plot");
  const table = document.getElementById("health-table");
  const SVG = "http://www.w3.org/2000/svg";
  const health = { samples: [] };
  window.liveHealth = health;

  function polyline(points, colour) {
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", points.join(" "));
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", colour);
    line.setAttribute("stroke-width", "1.5");
    return line;
  }

  function draw(history, span) {
    plot.innerHTML = "";
    const W = 600, H = 120, top = 10;
    const maxFps = Math.max(30, ...history.map((s) => s.fps));
    const x = (t) => W * (1 - (history[history.length - 1].t - t) / span);
    const y = (value, max) => H - (H - top) * Math.min(value, max) / max;
    const series = [
      ["fps", "#0a7a2f", maxFps, "frames/s (all groups)"],
      ["cpu", "#b00020", 100, "MCU CPU %"],
    ];
    series.forEach(([key, colour, max, label], i) => {
      plot.appendChild(polyline(history.map((s) => x(s.t).toFixed(1) + "," + y(s[key], max).toFixed(1)), colour));
      const text = document.createElementNS(SVG, "text");
      text.setAttribute("x", String(4 + i * 200)); text.setAttribute("y", "10");
      text.setAttribute("fill", colour); text.setAttribute("font-size", "10");
      text.textContent = label;
      plot.appendChild(text);
    });
    health.drawn = history.length;
  }

  function escapeHtml(text) {
    const div = document.createElement("div"); div.textContent = String(text); return div.innerHTML;
  }

  // The probes: each site's last receive report (its `stats` message), as the site said it.
  function receipt(r) {
    if (!r) return "<td>-</td><td>-</td>";
    const latency = r.latency_ms_p50 == null ? "-"
      : escapeHtml(r.latency_ms_p50) + " / " + escapeHtml(r.latency_ms_p95);
    return "<td>" + escapeHtml(r.fps) + "</td><td>" + latency + "</td>";
  }

  function probeTable(probes) {
    if (!probes.length) return "<p>No site has reported what it receives.</p>";
    const rows = probes.map((p) => "<tr data-probe=\"" + escapeHtml(p.uri).replace(/"/g, "&quot;") + "\"><td>"
      + escapeHtml(p.uri) + "</td>" + receipt(p.main) + receipt(p.content) + "<td>"
      + escapeHtml(p.age_s) + "</td></tr>").join("");
    return "<table class=probes><tr><th>site (as it reports)</th><th>main frames/s</th>"
      + "<th>main latency p50 / p95 ms</th><th>content frames/s</th>"
      + "<th>content latency p50 / p95 ms</th><th>age s</th></tr>" + rows + "</table>";
  }

  async function poll() {
    try {
      const response = await fetch("/console/health?conf=" + encodeURIComponent(conf));
      if (!response.ok) return;
      const data = await response.json();
      health.last = data;
      if (data.history.length) draw(data.history, data.span_s);
      const rows = data.groups.map((g) => "<tr><td>" + escapeHtml(g.picture) + "</td><td>"
        + escapeHtml(g.format) + "</td><td>" + escapeHtml(g.output_fps) + "</td><td>"
        + escapeHtml(g.receivers) + "</td></tr>").join("");
      table.innerHTML = "<p>MCU CPU <b data-health=cpu>" + escapeHtml(data.cpu_percent) + "</b> %, tick lateness (mean) <b>"
        + escapeHtml(data.tick_lateness_ms ?? "-") + "</b> ms</p>"
        + "<table><tr><th>encoder group</th><th>format</th><th>frames/s</th><th>receivers</th></tr>"
        + rows + "</table>" + probeTable(data.probes || []);
    } catch (e) { /* the next poll tries again */ }
  }
  poll();
  setInterval(poll, 2000);
})();
