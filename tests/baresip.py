"""A real baresip (Debian's 1.0.0) run headless on loopback for the interoperability tests:
its own temp config directory, SIP on 127.0.0.1:<free port>, controlled over the `ctrl_tcp`
module (netstring-framed JSON: `{"command": "dial", "params": "sip:...", "token": "7"}`,
answered `{"response": true, "ok": true, "data": ..., "token": "7"}`; every call and
registration event pushed as `{"event": true, "type": "CALL_ESTABLISHED", ...}`).

What it sends and how its reception is read (all modules of baresip-core / baresip-ffmpeg):
- audio: `ausine` (a sine tone; 48 kHz stereo only, hence ausrc_srate/channels);
- video: `avformat` playing a clip made here of our camera scene (the site's marker card,
  terminals/scene.py); or `fakevideo` (vertical bars, no marker);
- received video: the `snapshot` video filter's `snapshot_recv <path>` command writes the
  next decoded picture as a PNG at that path; the display is `fakevideo`'s (a null display);
- received audio: the `sndfile` audio filter dumps what is decoded to
  `<snd_path>/dump-<time>-dec.wav` (and what is encoded to `-enc.wav`); the player is an
  `aubridge` device no source reads (a null player: it writes nothing anywhere).

The facts behind the config (baresip 1.0.0, found in /usr/lib/baresip/modules and its
example config) are in docs/sip.md, "Calling the simulator from baresip".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import socket
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from app.child_process import dies_with_parent
from rtc.deadline import within
from terminals.scene import CameraScene

BARESIP = shutil.which("baresip")
MODULE_PATH = Path("/usr/lib/baresip/modules")
MODULES = ("opus", "g711", "g722", "aubridge", "ausine", "sndfile", "avcodec", "avformat",
           "vp8", "fakevideo", "snapshot", "srtp")
APP_MODULES = ("menu", "ctrl_tcp")
CLIP_FRAMES = 30  # < terminals.marker.MAX_LOOP_FRAMES: the frame markers stay readable
CLIP_SECONDS = 120  # longer than any test's call
START_TIMEOUT_S = 15.0


def missing_reason() -> str | None:
    """Why baresip cannot be run here (None when it can): `make baresip` installs it."""
    if BARESIP is None:
        return "baresip is not installed (make baresip: apt-get install baresip-core " \
               "baresip-ffmpeg, as root)"
    absent = [m for m in MODULES + APP_MODULES if not (MODULE_PATH / f"{m}.so").is_file()]
    if absent:
        return f"baresip modules missing from {MODULE_PATH}: {', '.join(absent)} " \
               "(make baresip installs baresip-core and baresip-ffmpeg)"
    return None


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def free_sip_port() -> int:
    """A port free for UDP and TCP, with the next one free for TCP (baresip listens on the
    port over UDP and TCP, and over TLS on the port + 1)."""
    for _ in range(50):
        port = free_port(socket.SOCK_DGRAM)
        if port >= 65535:
            continue
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp, \
                    socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tls:
                tcp.bind(("127.0.0.1", port))
                tls.bind(("127.0.0.1", port + 1))
        except OSError:
            continue
        return port
    raise RuntimeError("no port free for UDP, TCP and TLS")


def write_marker_clip(path: Path, site_index: int, size: tuple[int, int] = (640, 360),
                      fps: int = 15, seconds: int = CLIP_SECONDS) -> Path:
    """An H.264 clip (Matroska) of the camera scene of `site_index`: its marker card, the
    frame markers counting 0..CLIP_FRAMES-1 over and over, for `seconds`: what baresip's
    avformat camera plays. Long rather than looped: baresip 1.0.0's avformat rewinds a clip at
    its end, but what it reads after the rewind does not reach the encoder (a 2 s Y4M loop:
    23 frames encoded in a 9 s call; this clip: 116)."""
    scene = CameraScene(site_index, f"baresip {site_index}", size[0], size[1], CLIP_FRAMES)
    pictures = []
    for index in range(CLIP_FRAMES):
        picture = av.VideoFrame.from_ndarray(scene.frame(index), format="bgr24")
        pictures.append(picture.reformat(format="yuv420p").to_ndarray())
    with av.open(str(path), "w", format="matroska") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "18", "g": str(2 * fps)}
        for number in range(seconds * fps):
            frame = av.VideoFrame.from_ndarray(pictures[number % CLIP_FRAMES], format="yuv420p")
            frame.pts, frame.time_base = number, Fraction(1, fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@dataclass
class BaresipOptions:
    user: str = "baresip"
    # the account's address-of-record host: "127.0.0.1:<own port>" (called directly, no
    # registration) or a registrar's "127.0.0.1:<port>" with `password` (it registers there)
    registrar: str | None = None
    password: str | None = None
    answermode: str = "auto"  # auto: answers at once; manual: rings until accept()
    mediaenc: str | None = None  # srtp (best effort), srtp-mand, srtp-mandf; None: plain
    audio_codecs: Sequence[str] = ("opus/48000/2",)
    # empty: every video codec it has, in its order (H.264 mode 0, H.264 mode 1, H.263,
    # MPEG-4, H.265, VP8); "h264" alone would offer only its first H.264, packetization
    # mode 0, which the MCU does not take
    video_codecs: Sequence[str] = ()
    tone_hz: int = 1000
    clip: Path | None = None  # the camera (avformat); None: fakevideo's bars
    video_size: tuple[int, int] = (640, 360)
    fps: int = 15
    transport: str = "udp"  # the account's transport (udp, tcp, tls)


class Baresip:
    """One baresip process; `async with Baresip(directory, options) as phone:`."""

    def __init__(self, directory: Path, options: BaresipOptions) -> None:
        self.directory = directory
        self.options = options
        self.sip_port = free_sip_port()
        self.ctrl_port = free_port()
        self.events: list[dict[str, Any]] = []
        self._event_seen = asyncio.Event()
        self._answers: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._tokens = 0
        self._snapshots = 0
        self._process: asyncio.subprocess.Process | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self.log_path = directory / "baresip.log"

    # the configuration
    @property
    def uri(self) -> str:
        """Where it is called directly (its account, no registration)."""
        return f"sip:{self.options.user}@127.0.0.1:{self.sip_port}"

    def account_line(self) -> str:
        o = self.options
        host = o.registrar or f"127.0.0.1:{self.sip_port}"
        params = [f"answermode={o.answermode}", f"audio_codecs={','.join(o.audio_codecs)}"]
        if o.video_codecs:
            params += [f"video_codecs={','.join(o.video_codecs)}"]
        if o.registrar is not None:
            params += ["regint=600"]
        else:
            params += ["regint=0"]
        if o.password is not None:
            params += [f"auth_pass={o.password}"]
        if o.mediaenc is not None:
            params += [f"mediaenc={o.mediaenc}"]
        transport = "" if o.transport == "udp" else f";transport={o.transport}"
        return f"<sip:{o.user}@{host}{transport}>;" + ";".join(params)

    def config_text(self) -> str:
        o = self.options
        video_source = (f"avformat,{o.clip}" if o.clip is not None else "fakevideo,nil")
        lines = [
            "poll_method epoll",
            "net_interface 127.0.0.1",  # SDP addresses on loopback, not the default route's
            f"sip_listen 127.0.0.1:{self.sip_port}",
            "call_local_timeout 120",
            "call_max_calls 4",
            "statmode_default off",
            "audio_player aubridge,nowhere",  # no source reads it: a null player
            "audio_alert aubridge,nowhere",
            f"audio_source ausine,{o.tone_hz}",
            "ausrc_srate 48000",  # ausine makes 48 kHz stereo only
            "ausrc_channels 2",
            f"video_source {video_source}",
            "video_display fakevideo,nil",
            f"video_size {o.video_size[0]}x{o.video_size[1]}",
            "video_bitrate 500000",
            f"video_fps {o.fps}",
            "rtp_ports 20000-40000",
            "rtcp_mux no",
            "jitter_buffer_delay 1-10",
            f"module_path {MODULE_PATH}",
            *(f"module {name}.so" for name in MODULES),
            "module_tmp uuid.so",
            "module_tmp account.so",
            *(f"module_app {name}.so" for name in APP_MODULES),
            f"ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}",
            f"snd_path {self.directory}",
        ]
        return "\n".join(lines) + "\n"

    # the process
    async def __aenter__(self) -> Baresip:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        reason = missing_reason()
        if reason is not None:
            raise RuntimeError(reason)
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "config").write_text(self.config_text())
        (self.directory / "accounts").write_text(self.account_line() + "\n")
        (self.directory / "contacts").write_text("")
        assert BARESIP is not None
        self._process = await asyncio.create_subprocess_exec(
            *dies_with_parent([BARESIP]), "-f", str(self.directory), stdin=asyncio.subprocess.DEVNULL,
            stdout=self.log_path.open("wb"), stderr=asyncio.subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                reader, self._writer = await asyncio.open_connection("127.0.0.1", self.ctrl_port)
                break
            except OSError:
                if self._process.returncode is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"baresip did not start: {self.log()[-2000:]}") from None
                await asyncio.sleep(0.1)
        self._reader_task = asyncio.create_task(self._read(reader), name="baresip ctrl_tcp")

    async def stop(self) -> None:
        process = self._process
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(Exception):
                await within(self.command("quit"), 2)
            try:
                await within(process.wait(), 5)
            except TimeoutError:
                process.terminate()
                try:
                    await within(process.wait(), 5)
                except TimeoutError:
                    process.kill()
                    await process.wait()
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()
            await asyncio.gather(self._reader_task, return_exceptions=True)
        self._process = None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while True:
            try:
                length = int((await reader.readuntil(b":"))[:-1])
                body = await reader.readexactly(length + 1)  # the JSON and its ','
            except (asyncio.IncompleteReadError, ConnectionError, ValueError):
                return
            message = json.loads(body[:-1])
            if message.get("event"):
                self.events.append(message)
                self._event_seen.set()
            elif message.get("response"):
                future = self._answers.pop(str(message.get("token")), None)
                if future is not None and not future.done():
                    future.set_result(message)

    # control
    async def command(self, name: str, params: str | None = None,
                      timeout: float = 10.0) -> dict[str, Any]:
        """Run a baresip command; its answer ({"ok": bool, "data": text})."""
        assert self._writer is not None
        self._tokens += 1
        token = str(self._tokens)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._answers[token] = future
        data = json.dumps({"command": name, "params": params, "token": token}).encode()
        self._writer.write(str(len(data)).encode() + b":" + data + b",")
        await self._writer.drain()
        return await within(future, timeout)

    async def dial(self, uri: str) -> None:
        answer = await self.command("dial", uri)
        if not answer.get("ok"):
            raise RuntimeError(f"baresip dial {uri}: {answer}")

    async def hang_up(self) -> None:
        await self.command("hangup")

    async def accept(self) -> None:
        await self.command("accept")

    async def registration(self, timeout: float = 20.0) -> str:
        """"OK" once its account is registered, "ERR" once its registration failed (the
        `reginfo` command's state; its events come before the control connection does)."""
        deadline = time.monotonic() + timeout
        while True:
            text = str((await self.command("reginfo")).get("data", ""))
            text = re.sub(r"\x1b\[[0-9;]*m", "", text)
            for state in ("OK", "ERR"):
                if re.search(rf"\s{state}\s", text):
                    return state
            if time.monotonic() > deadline:
                raise AssertionError(f"baresip: no registration outcome in {timeout} s: {text}")
            await asyncio.sleep(0.2)

    async def event(self, kind: str, timeout: float = 30.0, after: int = 0) -> dict[str, Any]:
        """The first event of type `kind` (CALL_ESTABLISHED, CALL_CLOSED, REGISTER_OK...)
        from index `after` of `events` on, waiting for it."""
        deadline = time.monotonic() + timeout
        while True:
            for message in self.events[after:]:
                if message.get("type") == kind:
                    return message
            left = deadline - time.monotonic()
            if left <= 0:
                seen = [m.get("type") for m in self.events]
                raise AssertionError(f"baresip: no {kind} event in {timeout} s (saw {seen})")
            self._event_seen.clear()
            with contextlib.suppress(TimeoutError):
                await within(self._event_seen.wait(), left)

    # what it received
    async def snapshot(self, timeout: float = 10.0) -> np.ndarray:
        """The next picture it decodes (BGR), through the snapshot module: 1.0.0 writes it
        as a PNG at the path its `snapshot_recv` command names."""
        import cv2

        self._snapshots += 1
        path = self.directory / f"received-{self._snapshots}.png"
        await self.command("snapshot_recv", str(path))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if path.is_file():
                picture = cv2.imread(str(path))
                if picture is not None:  # None while it is still being written
                    return picture
            await asyncio.sleep(0.1)
        raise AssertionError(f"baresip wrote no snapshot in {timeout} s")

    def received_audio(self) -> tuple[np.ndarray, int]:
        """(mono float samples, sample rate) of everything it decoded in its calls so far,
        read from the sndfile dumps (the data as written; the header's sizes are only set
        when a call ends)."""
        chunks, rate = [], 0
        for path in sorted(self.directory.glob("dump-*-dec.wav")):
            samples, rate = read_growing_wav(path.read_bytes())
            chunks.append(samples)
        if not chunks:
            return np.zeros(0, np.float32), 48000
        return np.concatenate(chunks), rate


def read_growing_wav(data: bytes) -> tuple[np.ndarray, int]:
    """(mono float samples, rate) of a 16-bit PCM WAV, reading the data chunk to the end of
    the file whatever its header says (libsndfile fills the sizes in when it closes)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a WAV file")
    position, channels, rate = 12, 1, 0
    while position + 8 <= len(data):
        chunk, size = data[position:position + 4], struct.unpack("<I", data[position + 4:position + 8])[0]
        body = position + 8
        if chunk == b"fmt ":
            fmt, channels, rate, _, _, bits = struct.unpack("<HHIIHH", data[body:body + 16])
            if fmt != 1 or bits != 16:
                raise ValueError(f"WAV format {fmt} with {bits} bits: only 16-bit PCM is read")
        elif chunk == b"data":
            raw = data[body:]
            raw = raw[: len(raw) // (2 * channels) * 2 * channels]
            samples = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
            return samples.reshape(-1, channels).mean(axis=1), rate
        position = body + size + (size & 1)
    raise ValueError("WAV without a data chunk")


def tone_peak_hz(samples: np.ndarray, rate: int) -> float:
    """The frequency of the strongest line in `samples` (Hann window, 0.5 Hz bins)."""
    window = np.hanning(len(samples))
    spectrum = np.abs(np.fft.rfft(samples * window, n=max(len(samples), 2 * rate)))
    spectrum[: int(50 * len(spectrum) / (rate / 2))] = 0  # below 50 Hz: no tone of ours
    return float(np.argmax(spectrum) * rate / (2 * (len(spectrum) - 1)))
