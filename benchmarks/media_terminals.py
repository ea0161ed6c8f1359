"""The terminals' side of the media benchmark: a process holding one conference's terminals.

The benchmark starts one such process per conference. A conference's terminals share it, so
they share a send log: a pane's glass-to-glass latency is the time the receiving terminal's
decoder delivered the frame minus the time the site whose marker is in the pane sent that
frame index.

The terminals are the load generator, not what is measured: only the probes (one terminal
per conference, chosen by the parent before booking) decode the video they receive; every
other terminal counts the complete frames it receives without decoding them
(terminals/frame_counter.py), so the MCU, not this process, is the bottleneck. Two sets of
terminals: `--count` sending the 720p30 loop, then `--small-count` sending 640x360 (the
16-site conference, whose 480x270 panes need no more).

Run by benchmarks/media_load.py as `python -m benchmarks.media_load --terminals-child ...`;
it talks over stdin/stdout, one JSON object per line:

    child -> parent  {"ready": [uri, ...], "small": [uri, ...]}
                     once every terminal is registered (720p senders, 640x360 senders)
    parent -> child  {"cmd": "probes", "uris": [uri, ...]}
                     these terminals decode from their next call on, the others only count
    parent -> child  {"cmd": "panes", "rects": [[x, y, w, h], ...], "sample": [uri, ...]}
                     read these panes (fractions) on these terminals from now on
    parent -> child  {"cmd": "silence", "uris": [uri, ...]}
                     these terminals (those of them this process holds) stop talking
    parent -> child  {"cmd": "snapshot"}
    child -> parent  {"cpu_s": ..., "terminals": {uri: {...}}, "latencies_ms": {uri: [...]}}
                     counters now, and every latency read since the last snapshot
    parent -> child  {"cmd": "stop"}

Content (the conference's aux stream, issue 12): with `--content-site k` the process's k-th
terminal has a content input (the radiograph's pages at 1920x1080, slides mode), its content
m-line limited to `--content-codec` when given; every terminal decodes the content it
receives on its second stream (a few frames a second in slides mode), analyses every fifth
frame (marker: site, page, frame index; PSNR/SSIM of the text region) and its content
latencies are kept until the next snapshot (`content_latencies_ms`).

Markers are read by a sampler, not by every terminal on every k-th frame: it reads the
panes of one sampled terminal at a time, round robin, SAMPLES_PER_S times a second in all,
so the cost of measuring stays the same whatever the number of terminals.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from rtc.signalling import Device
from terminals.call_state import CallState
from terminals.client import ContentKind, SimulatedTerminal
from terminals.content_source import PROCESS_CONTENT_SEND_LOG
from terminals.marker import Rect
from terminals.media_sources import VideoFormat
from terminals.run_command import freeze_startup_objects, start_terminals, stop_terminals
from terminals.send_log import SendLog

SMALL_VIDEO_FORMAT = VideoFormat(640, 360, 30, 600_000)
SAMPLES_PER_S = 4.0
NEVER_ANALYSE = 1 << 30  # the terminals' own periodic analysis is off: the sampler reads


@dataclass
class RecordingSendLog(SendLog):
    """A send log that also keeps every latency it computes, for whoever reads right now."""

    sink: list[float] | None = field(default=None)

    def latency(self, site_index: int, frame_index: int, received_at: float) -> float | None:
        value = super().latency(site_index, frame_index, received_at)
        if value is not None and self.sink is not None:
            self.sink.append(value)
        return value


@dataclass
class TappedSendLog(SendLog):
    """One receiver's view of a shared send log: every latency it computes is also kept."""

    inner: SendLog = field(default_factory=SendLog)
    sink: list[float] = field(default_factory=list)

    def latency(self, site_index: int, frame_index: int, received_at: float) -> float | None:
        value = self.inner.latency(site_index, frame_index, received_at)
        if value is not None:
            self.sink.append(value)
        return value

    def site_uri(self, site_index: int) -> str | None:
        return self.inner.site_uri(site_index)


class TerminalsChild:
    def __init__(self, terminals: list[SimulatedTerminal], send_log: RecordingSendLog) -> None:
        self.terminals = {terminal.uri: terminal for terminal in terminals}
        self.send_log = send_log
        # each terminal's content latencies (its content receiver reads the process's
        # content send log through a tap)
        self.content_logs: dict[str, TappedSendLog] = {}
        for uri, terminal in self.terminals.items():
            tap = TappedSendLog(inner=PROCESS_CONTENT_SEND_LOG)
            terminal.content.send_log = tap
            self.content_logs[uri] = tap
        self.sampled: list[str] = []
        self.latencies: dict[str, list[float]] = {}
        self._next = 0

    def set_probes(self, uris: Sequence[str]) -> None:
        for uri, terminal in self.terminals.items():
            terminal.decode_video = uri in uris

    def set_panes(self, rects: Sequence[Rect], sampled: Sequence[str]) -> None:
        for terminal in self.terminals.values():
            terminal.set_panes(list(rects))
        self.sampled = [uri for uri in sampled if uri in self.terminals]
        self._next = 0

    async def sample_forever(self) -> None:
        while True:
            await asyncio.sleep(1.0 / SAMPLES_PER_S)
            if not self.sampled:
                continue
            uri = self.sampled[self._next % len(self.sampled)]
            self._next += 1
            terminal = self.terminals[uri]
            if terminal.state != CallState.IN_CALL:
                continue
            # Analyses run one at a time (this loop awaits each), so every latency the send
            # log computes meanwhile belongs to this terminal.
            self.send_log.sink = self.latencies.setdefault(uri, [])
            try:
                await terminal.read_panes()
            finally:
                self.send_log.sink = None

    def snapshot(self) -> dict:
        times = os.times()
        terminals = {}
        for uri, terminal in self.terminals.items():
            stats = terminal.stats()
            terminals[uri] = {
                "state": stats.state,
                "conf_id": stats.conf_id,
                "codec": stats.video_codec,
                "frames_sent": stats.frames_sent,
                "decoding": stats.video.decoding,
                "frames_received": stats.video.frames_received,
                "keyframes_received": stats.video.keyframes_received,
                "frames_decoded": stats.video.frames_decoded,
                "size": [stats.video.width, stats.video.height],
                "panes": [pane.site_uri for pane in stats.video.panes],
                "content": content_snapshot(terminal),
                # the send ladder from the terminal's side: what it was asked last (its own
                # format until asked), the requests it got, the format its loop goes out at
                "asked": format_name(terminal.send_requests.format()),
                "asks": len(terminal.send_requests.received),
                "sending": format_name(terminal.sending_video_format),
                # the mix heard: 20 ms frames received (decoded or not), and the longest
                # wait between two of its packets since the previous snapshot (on arrival)
                "audio_frames_received": stats.audio_frames,
                "audio_gap_max_ms": round(1000 * terminal.audio.read_largest_gap(), 1),
            }
        latencies, self.latencies = self.latencies, {}
        content_latencies = {}
        for uri, tap in self.content_logs.items():
            content_latencies[uri] = [round(1000 * value, 2) for value in tap.sink]
            tap.sink = []
        return {
            "at": time.time(),
            "cpu_s": times.user + times.system,
            "terminals": terminals,
            "latencies_ms": {
                uri: [round(1000 * value, 2) for value in values]
                for uri, values in latencies.items()
            },
            "content_latencies_ms": content_latencies,
        }


def format_name(video_format: VideoFormat | None) -> str | None:
    """'1280x720@30', as the MCU's GET /stats/media names an ask; None for None."""
    if video_format is None:
        return None
    return f"{video_format.width}x{video_format.height}@{video_format.fps}"


def content_snapshot(terminal: SimulatedTerminal) -> dict:
    """What a terminal's second stream shows and what it sends there."""
    status = terminal.content_stats()
    track = terminal.content_track
    return {
        "site": status.site_uri,
        "page": status.page,
        "frame": status.frame_index,
        "latency_ms_p50": status.latency_ms_p50,
        "psnr_db": None if status.psnr_db is None else round(status.psnr_db, 2),
        "ssim": None if status.ssim is None else round(status.ssim, 4),
        "frames_decoded": terminal.content.frames_decoded,
        "frames_analysed": terminal.content.frames_analysed,
        "codec": terminal.content_codec,
        "sending": terminal.sending_content,
        "frames_sent": track.frames_sent if track is not None else 0,
    }


async def _read_commands() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


def _answer(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def run_child(args: argparse.Namespace) -> int:
    send_log = RecordingSendLog()
    common = dict(uri_prefix=args.uri_prefix, ring_delay_s=0.2, analyse_every=NEVER_ANALYSE,
                  send_log=send_log, decode_video=False, decode_audio=False,
                  device_for=_room_device_for(args))
    terminals = await _start_with_content(args, common)
    try:
        small = await start_terminals(args.server, args.small_count,
                                      start_index=args.start_index + args.count,
                                      video_format=SMALL_VIDEO_FORMAT, **common)
    except BaseException:
        await stop_terminals(terminals)
        raise
    freeze_startup_objects()
    child = TerminalsChild(terminals + small, send_log)
    sampler = asyncio.create_task(child.sample_forever(), name="pane sampler")
    commands = await _read_commands()
    _answer({"ready": [terminal.uri for terminal in terminals],
             "small": [terminal.uri for terminal in small]})
    try:
        while line := await commands.readline():
            command = json.loads(line)
            match command.get("cmd"):
                case "probes":
                    child.set_probes(command["uris"])
                    _answer({"ok": True})
                case "panes":
                    child.set_panes([tuple(rect) for rect in command["rects"]], command["sample"])
                    _answer({"ok": True})
                case "silence":
                    quiet = set(command["uris"])
                    for terminal in terminals + small:
                        if terminal.uri in quiet:
                            terminal.speech.set_level(0.0)
                    _answer({"ok": True})
                case "snapshot":
                    _answer(child.snapshot())
                case "stop":
                    break
                case other:
                    _answer({"error": f"unknown command {other!r}"})
    finally:
        sampler.cancel()
        await stop_terminals(terminals + small)
    return 0


async def _start_with_content(args: argparse.Namespace, common: dict) -> list[SimulatedTerminal]:
    """The `--count` main terminals; the `--content-site`-th of them with a content input."""
    site = args.content_site
    if site < 0 or site >= args.count:
        return await start_terminals(args.server, args.count, start_index=args.start_index,
                                     **common)
    codecs = [args.content_codec] if args.content_codec else None
    layout: list[tuple[int, int, ContentKind | None]] = [
        (0, site, None), (site, 1, "radiograph"), (site + 1, args.count - site - 1, None)]
    started: list[SimulatedTerminal] = []
    try:
        for offset, count, content in layout:
            started += await start_terminals(
                args.server, count, start_index=args.start_index + offset, content=content,
                content_codecs=codecs if content else None, **common)
    except BaseException:
        await stop_terminals(started)
        raise
    return started


def _room_device_for(args: argparse.Namespace) -> Callable[[int], Device | None] | None:
    """`--room-site`: that one of the --count terminals declares a three-screen specialist
    room (a camera, a PC, a document camera); the others declare nothing."""
    if args.room_site < 0:
        return None
    from terminals.device_description import device_from_options

    room_index = args.start_index + args.room_site
    room = device_from_options(3, ["camera", "pc", "doc-camera"], room_index)
    return lambda index: room if index == room_index else None


def add_child_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", help="the MCU's signalling WebSocket (child only)")
    parser.add_argument("--count", type=int, default=16,
                        help="terminals sending 720p30 (child only)")
    parser.add_argument("--small-count", type=int, default=0,
                        help="terminals sending 640x360 after those (child only)")
    parser.add_argument("--start-index", type=int, default=0,
                        help="site index of the first terminal (child only)")
    parser.add_argument("--uri-prefix", default="0177", help="terminal URI prefix (child only)")
    parser.add_argument("--content-site", type=int, default=-1,
                        help="which of the --count terminals has a content input (child only)")
    parser.add_argument("--content-codec", choices=("H264", "VP8"),
                        help="that terminal's content m-line codec (child only)")
    parser.add_argument("--room-site", type=int, default=-1,
                        help="which of the --count terminals is a three-screen room "
                             "(child only)")
