// A browser terminal speaking docs/signalling.md to the MCU that served this page (same
// origin: ws:// over HTTP, wss:// over HTTPS). One call at a time, one RTCPeerConnection per
// call with one audio and one video stream each way.
//
// URL parameters (all optional but uri):
//   uri          the terminal's URI (register.uri), e.g. 01010086
//   name         its display name (default: the URI)
//   codecs       video codecs, in order of preference: H264,VP8 (default H264,VP8)
//   audio        audio codecs: opus,G722,PCMU,PCMA (default opus,G722,PCMU,PCMA)
//   formats      video formats declared in register (default 1080P30,720P30,4CIF)
//   camera       1 send the camera (default), 0 receive video only
//   mic          1 send the microphone (default), 0 receive audio only
//   access_code  dial in (join) to the conference with this access code once registered
//   password     the conference password for the dial-in
//   answer       1 answer invitations (default), 0 decline them
//
// The terminal's signalling secret (docs/signalling.md, "Authentication"): typed into the
// page's password field when the MCU's challenge comes, or given in the URL's fragment
// (#secret=..., which the browser never sends to the server). The page answers the digest
// challenge with WebCrypto: response = hex SHA-256(hex SHA-256(uri:realm:secret) ":" nonce);
// the secret itself never leaves the page. A refused secret shows the field again.
//
// The device (register.device, docs/signalling.md "The device"; docs/terminals.md "The
// browser terminal's device"): what a browser has, one camera (input 0, main stream only,
// connected unless camera=0) and one screen (HD1), no aux input (the page shares no
// content). The MCU's siteMgr queries answer it; setMainAuxStreamSourcesEx is refused (no
// aux input), camAction 21 may choose input 0 only. A `sources` message naming input 0 alone
// is obeyed (the camera already feeds the main stream: nothing changes); any other is not
// obeyed and changes nothing. Each is recorded in window.terminal.sources.
//
// ICE: no trickle. The MCU's signalling has no candidate message, so every SDP this page
// sends is written once ICE gathering is complete (all candidates inside it). ICE servers:
// those the MCU announces in `registered.ice_servers` (STUN/TURN URLs), none otherwise.
"use strict";

const params = new URLSearchParams(location.search);
const list = (name, fallback) =>
  (params.get(name) || fallback).split(",").map((s) => s.trim()).filter(Boolean);
const flag = (name, fallback) => (params.get(name) ?? fallback) !== "0";

const config = {
  uri: params.get("uri") || "",
  name: params.get("name") || params.get("uri") || "",
  videoCodecs: list("codecs", "H264,VP8"),
  audioCodecs: list("audio", "opus,G722,PCMU,PCMA"),
  videoFormats: list("formats", "1080P30,720P30,4CIF"),
  camera: flag("camera", "1"),
  mic: flag("mic", "1"),
  accessCode: params.get("access_code") || "",
  password: params.get("password") || "",
  answer: flag("answer", "1"),
};
const fragment = new URLSearchParams(location.hash.slice(1));
let secret = fragment.get("secret"); // null until given (fragment or the password field)
let pendingChallenge = null; // the MCU's challenge not yet answered

// What a test (or a curious user in the console) reads: window.terminal.
const terminal = {
  config,
  state: "starting", // starting, password, unauthorized, registered, ringing, calling, in_call, idle, error, disconnected
  callId: null,
  confId: null,
  iceServers: [],
  errors: [], // `error` messages of the MCU
  sources: [], // the MCU's `sources` messages: {main, aux, obeyed}
  sendVideo: [], // the MCU's `send_video` requests: {width, height, fps, scale, applied}
  log: [],
  pc: null,
};
window.terminal = terminal;

const remoteVideo = document.getElementById("remote");
const localVideo = document.getElementById("local");
document.getElementById("uri").textContent = config.uri;

function note(text) {
  const line = `${new Date().toISOString().slice(11, 23)} ${text}`;
  terminal.log.push(line);
  const log = document.getElementById("log");
  log.textContent += line + "\n";
}

function setState(state) {
  terminal.state = state;
  document.getElementById("status").textContent = state;
  note(`state ${state}`);
}

// ---------------------------------------------------------------- signalling

const ws = new WebSocket(`${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/signalling`);

function send(message) {
  ws.send(JSON.stringify(message));
}

ws.onopen = () => {
  if (!config.uri) {
    setState("error");
    note("no uri parameter: nothing to register");
  }
  // registering waits for the MCU's challenge (handle: "challenge")
};

async function sha256Hex(text) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

const loginForm = document.getElementById("login");
loginForm.addEventListener("submit", (event) => {
  event.preventDefault();
  secret = document.getElementById("secret").value;
  loginForm.hidden = true;
  answerChallenge().catch((error) => note(`register failed: ${error}`));
});

function askSecret(state) {
  loginForm.hidden = false;
  setState(state);
}

// Register with the digest response to the pending challenge, once the secret is known.
async function answerChallenge() {
  if (!config.uri || pendingChallenge === null) return;
  if (secret === null) { // keep showing a refusal until a new secret is typed
    askSecret(terminal.state === "unauthorized" ? "unauthorized" : "password");
    return;
  }
  const challenge = pendingChallenge;
  pendingChallenge = null; // a nonce answers one register
  const ha1 = await sha256Hex(`${config.uri}:${challenge.realm}:${secret}`);
  const response = await sha256Hex(`${ha1}:${challenge.nonce}`);
  send({
    type: "register", uri: config.uri, name: config.name, site_type: 7,
    capabilities: {
      video_codecs: config.videoCodecs,
      video_formats: config.videoFormats,
      audio_codecs: config.audioCodecs,
    },
    device: browserDevice(),
    auth: { response },
  });
}
// What this page is as a device (see "The device" above).
const CAMERA_INPUT = 0;
function browserDevice() {
  return {
    model: "MCU-SIM Browser Terminal",
    inputs: [{ id: CAMERA_INPUT, name: "Camera", kind: "camera", connected: config.camera,
               main: true, aux: false }],
    screens: [{ id: 0, name: "HD1" }],
    soft_version: "mcu-sim browser page 1.0",
    hard_version: "browser",
    manufacturer: "mcu-sim",
  };
}

// The MCU's choice of inputs: this page's only input is its camera.
function onSources(message) {
  const main = Array.isArray(message.main) ? message.main : [];
  const aux = message.aux ?? null;
  const obeyed = main.length === 1 && main[0] === CAMERA_INPUT && aux === null;
  terminal.sources.push({ main, aux, obeyed });
  note(obeyed ? "sources: the camera (its only input) feeds the main stream"
    : `sources ${JSON.stringify(main)} aux ${aux} not obeyed: not inputs of this page`);
}

// The send ladder (docs/signalling.md "Send ladder"): the MCU asks for at most width x
// height at fps. The camera's sender is scaled down by the browser's own encoder
// (RTCRtpSender.setParameters: scaleResolutionDownBy from the camera's height, never up;
// maxFramerate), so the page sends what its pane needs. Each is recorded in
// window.terminal.sendVideo with the scale applied.
async function onSendVideo(message) {
  const entry = { width: message.width, height: message.height, fps: message.fps,
                  scale: null, applied: false };
  terminal.sendVideo.push(entry);
  if (message.call_id !== terminal.callId || !terminal.pc) return;
  const sender = terminal.pc.getSenders().find((s) => s.track && s.track.kind === "video");
  if (!sender) return; // no camera: nothing is sent, nothing to scale
  const height = sender.track.getSettings().height || message.height;
  const parameters = sender.getParameters();
  if (!parameters.encodings || parameters.encodings.length === 0) return;
  entry.scale = Math.max(1, height / message.height);
  parameters.encodings[0].scaleResolutionDownBy = entry.scale;
  parameters.encodings[0].maxFramerate = message.fps;
  await sender.setParameters(parameters);
  entry.applied = true;
  note(`send_video ${message.width}x${message.height}@${message.fps}: scaled down by ${entry.scale}`);
}

ws.onclose = () => { closeCall(); setState("disconnected"); };
ws.onmessage = (event) => {
  let message;
  try {
    message = JSON.parse(event.data);
  } catch (error) {
    note(`not JSON from the MCU: ${error}`);
    return;
  }
  handle(message).catch((error) => {
    note(`${message.type} failed: ${error}`);
    if (message.call_id && message.call_id === terminal.callId) hangUp("media failed");
  });
};

async function handle(message) {
  switch (message.type) {
    case "challenge":
      pendingChallenge = message;
      await answerChallenge();
      break;
    case "registered":
      terminal.iceServers = Array.isArray(message.ice_servers) ? message.ice_servers : [];
      setState("registered");
      if (config.accessCode) await join();
      break;
    case "ping":
      send({ type: "pong", seq: message.seq });
      break;
    case "pong":
      break;
    case "invite":
      await onInvite(message);
      break;
    case "joined":
      if (message.call_id !== terminal.callId || !terminal.pc) break;
      terminal.confId = message.conf_id;
      await terminal.pc.setRemoteDescription({ type: "answer", sdp: message.sdp });
      break;
    case "bye":
      if (message.call_id === terminal.callId) {
        note(`bye: ${message.reason}`);
        closeCall();
        setState("idle");
      }
      break;
    case "sources":
      onSources(message);
      break;
    case "send_video":
      await onSendVideo(message);
      break;
    case "error":
      terminal.errors.push(message);
      note(`error ${message.code}: ${message.message}`);
      if (["unauthorized", "locked"].includes(message.code) && terminal.state !== "registered"
          && !message.call_id) {
        secret = null; // refused: ask again (the MCU sends a fresh challenge)
        askSecret("unauthorized");
      }
      if (message.call_id && message.call_id === terminal.callId) {
        closeCall();
        setState("idle");
      }
      break;
    default:
      note(`ignored ${message.type}`);
  }
}

// ---------------------------------------------------------------- calls

let localStream = null;

async function localMedia() {
  if (localStream === null) {
    localStream = (config.camera || config.mic)
      ? await navigator.mediaDevices.getUserMedia({ audio: config.mic, video: config.camera })
      : new MediaStream();
    localVideo.srcObject = localStream;
  }
  return localStream;
}

function newPeerConnection() {
  const pc = new RTCPeerConnection({ iceServers: terminal.iceServers });
  const received = new MediaStream();
  remoteVideo.srcObject = received;
  pc.ontrack = (event) => {
    // one picture and one sound: the content stream (a second video m-line, see
    // docs/signalling.md "Content stream") is answered inactive and never shown
    if (received.getTracks().some((t) => t.kind === event.track.kind)) return;
    received.addTrack(event.track);
    remoteVideo.play().catch(() => {}); // autoplay with sound may need the muted attribute
  };
  pc.onconnectionstatechange = () => {
    note(`peer connection ${pc.connectionState}`);
    if (pc !== terminal.pc) return;
    if (pc.connectionState === "connected") setState("in_call");
    if (pc.connectionState === "failed") hangUp("media failed");
  };
  terminal.pc = pc;
  return pc;
}

// Keep only the codecs the terminal declared, in its order (plus retransmission, which
// belongs to the video codecs kept).
function preferredCodecs(kind) {
  const wanted = (kind === "video" ? config.videoCodecs : config.audioCodecs)
    .map((name) => name.toLowerCase());
  const all = RTCRtpReceiver.getCapabilities(kind).codecs;
  const chosen = [];
  for (const name of wanted) {
    chosen.push(...all.filter((codec) => codec.mimeType.toLowerCase() === `${kind}/${name}`));
  }
  if (kind === "video") chosen.push(...all.filter((c) => c.mimeType.toLowerCase() === "video/rtx"));
  return chosen;
}

// Give each transceiver its local track (or none: receive only) and the declared codecs.
async function attachMedia(pc) {
  const stream = await localMedia();
  const seen = new Set();
  for (const transceiver of pc.getTransceivers()) {
    const kind = transceiver.receiver.track.kind;
    if (seen.has(kind)) {
      // the content m-line: this page neither sends nor shows content
      transceiver.direction = "inactive";
      continue;
    }
    seen.add(kind);
    const track = stream.getTracks().find((t) => t.kind === kind) || null;
    await transceiver.sender.replaceTrack(track);
    if (track) transceiver.sender.setStreams(stream);
    transceiver.direction = track ? "sendrecv" : "recvonly";
    const codecs = preferredCodecs(kind);
    if (codecs.length) transceiver.setCodecPreferences(codecs);
  }
}

function gatheringComplete(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") resolve();
    });
  });
}

async function onInvite(invite) {
  if (terminal.callId !== null || !config.answer) {
    send({ type: "decline", call_id: invite.call_id, reason: terminal.callId ? "busy" : "declined" });
    return;
  }
  terminal.callId = invite.call_id;
  terminal.confId = invite.conf_id;
  send({ type: "ringing", call_id: invite.call_id });
  setState("ringing");
  const pc = newPeerConnection();
  await pc.setRemoteDescription({ type: "offer", sdp: invite.sdp });
  await attachMedia(pc);
  await pc.setLocalDescription(await pc.createAnswer());
  await gatheringComplete(pc);
  if (terminal.pc !== pc) return; // hung up meanwhile
  send({ type: "answer", call_id: invite.call_id, sdp: pc.localDescription.sdp });
  setState("calling");
}

async function join(accessCode = config.accessCode, password = config.password) {
  if (terminal.callId !== null) return;
  const callId = `browser-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
  terminal.callId = callId;
  const pc = newPeerConnection();
  pc.addTransceiver("audio");
  pc.addTransceiver("video");
  await attachMedia(pc);
  await pc.setLocalDescription(await pc.createOffer());
  await gatheringComplete(pc);
  if (terminal.pc !== pc) return;
  send({
    type: "join", call_id: callId, access_code: accessCode, password,
    sdp: pc.localDescription.sdp,
  });
  setState("calling");
}

function closeCall() {
  if (terminal.pc) terminal.pc.close();
  terminal.pc = null;
  terminal.callId = null;
  terminal.confId = null;
}

function hangUp(reason = "hang up") {
  if (terminal.callId !== null && ws.readyState === WebSocket.OPEN) {
    send({ type: "bye", call_id: terminal.callId, reason });
  }
  closeCall();
  setState("idle");
}

// ---------------------------------------------------------------- what a test reads

// The picture shown now, as a PNG data URL at its decoded size (null before the first frame).
terminal.grab = () => {
  if (!remoteVideo.videoWidth) return null;
  const canvas = document.createElement("canvas");
  canvas.width = remoteVideo.videoWidth;
  canvas.height = remoteVideo.videoHeight;
  canvas.getContext("2d").drawImage(remoteVideo, 0, 0);
  return canvas.toDataURL("image/png");
};

// The received video's codec, size, rate and frame counters (from getStats), or null.
terminal.videoStats = async () => {
  if (!terminal.pc) return null;
  const report = await terminal.pc.getStats();
  let inbound = null;
  let outbound = null;
  report.forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "video") inbound = s;
    if (s.type === "outbound-rtp" && s.kind === "video") outbound = s;
  });
  if (!inbound) return null;
  const codec = inbound.codecId ? report.get(inbound.codecId) : null;
  return {
    codec: codec ? codec.mimeType.split("/")[1] : null,
    sdpFmtpLine: codec ? codec.sdpFmtpLine || "" : "",
    width: inbound.frameWidth || 0,
    height: inbound.frameHeight || 0,
    fps: inbound.framesPerSecond || 0,
    framesDecoded: inbound.framesDecoded || 0,
    framesSent: outbound ? outbound.framesSent || 0 : 0,
  };
};

// ---------------------------------------------------------------- receive statistics

// Every 2 s of a conference call with media up: `stats` (docs/signalling.md, "Receive
// statistics"): the frames decoded a second over the interval (getStats' framesDecoded).
// The page reads no markers, so its latency is null; it shows no content (null).
const STATS_INTERVAL_MS = 2000;
terminal.reportsSent = [];
let metered = null; // {callId, at, frames} of the previous reading

setInterval(async () => {
  if (terminal.state !== "in_call" || !terminal.confId || !terminal.callId
      || ws.readyState !== WebSocket.OPEN) { metered = null; return; }
  const stats = await terminal.videoStats();
  if (!stats) return;
  const callId = terminal.callId;
  const now = performance.now();
  const last = metered;
  metered = { callId, at: now, frames: stats.framesDecoded };
  if (!last || last.callId !== callId || stats.framesDecoded < last.frames || now <= last.at) return;
  const fps = Math.min(240, Math.round(100 * (stats.framesDecoded - last.frames) * 1000 / (now - last.at)) / 100);
  const report = { type: "stats", call_id: callId,
    main: { fps, latency_ms_p50: null, latency_ms_p95: null }, content: null };
  send(report);
  terminal.reportsSent.push(report);
  if (terminal.reportsSent.length > 100) terminal.reportsSent.shift();
}, STATS_INTERVAL_MS);

terminal.hangUp = hangUp;
terminal.join = join;
