"""`mcu-sim terminals`: N simulated terminals in one process until interrupted.

Terminal i (i = start_index .. start_index + count - 1) has the URI `<uri-prefix><i:02d>`,
the name "Site <uri>" and site index i (its marker and voice). `start_terminals()` is the
same for `mcu-sim serve` / `make run`, which start a few terminals beside the MCU.

Credentials (docs/signalling.md, "Authentication"): `--secret` (or MCU_SIM_TERMINAL_SECRET)
gives every terminal of the process that secret (for one terminal, or URIs the MCU lists with
the same secret); otherwise each terminal's secret is derived from `--provisioning-key` (or
MCU_SIM_PROVISIONING_KEY), by default the public lab key the MCU's embedded defaults hold.

Device (docs/terminals.md, "The device"): `--device FILE` (TOML) or `--screens N --inputs
camera,pc,doc-camera` gives every terminal of the process that device
(terminals/device_description.py); neither: they declare none (the MCU's undeclared device).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from rtc.deadline import within
from rtc.signalling import Capabilities, Device
from rtc.signalling_auth import LAB_PROVISIONING_KEY, provisioned_secret
from sip.errors import SipCallFailed
from terminals.client import (
    CONTENT_KINDS,
    AnswerMode,
    CallRefused,
    ContentKind,
    RegistrationRefused,
    SimulatedTerminal,
    TerminalStats,
)
from terminals.device_description import (
    describe,
    device_from_options,
    device_from_toml,
    parse_inputs,
)
from terminals.marker import MAX_SITES, Rect
from terminals.media_sources import DEFAULT_VIDEO_FORMAT, VideoFormat
from terminals.send_log import PROCESS_SEND_LOG, SendLog
from terminals.sync_pattern import DEFAULT_PERIOD_S, SyncPattern

DEFAULT_SERVER = "ws://127.0.0.1:8080/signalling"
SECRET_ENV = "MCU_SIM_TERMINAL_SECRET"
PROVISIONING_KEY_ENV = "MCU_SIM_PROVISIONING_KEY"


def terminal_uri(uri_prefix: str, site_index: int) -> str:
    return f"{uri_prefix}{site_index:02d}"


async def start_terminals(
    server_url: str,
    count: int,
    uri_prefix: str = "0101",
    start_index: int = 0,
    answer_mode: AnswerMode = "answer",
    ring_delay_s: float = 1.0,
    media_address: str | None = None,
    video_format: VideoFormat = DEFAULT_VIDEO_FORMAT,
    capabilities: Capabilities | None = None,
    analyse_every: int = 10,
    send_log: SendLog = PROCESS_SEND_LOG,
    decode_video: bool | Callable[[int], bool] = True,
    decode_audio: bool = True,
    secret_for: Callable[[str], str] | None = None,
    content: ContentKind | None | Callable[[int], ContentKind | None] = None,
    receive_content: bool = True,
    device_for: Callable[[int], Device | None] | None = None,
    state_dir: Path | None = None,
    content_codecs: Sequence[str] | None = None,
    content_size: tuple[int, int] = (1920, 1080),
    sync_pattern: SyncPattern | None = None,
) -> list[SimulatedTerminal]:
    """Create, encode and register `count` terminals; returns them once all are registered.

    secret_for: each terminal's signalling secret by its URI (None: the public lab key's).
    device_for: each terminal's declared device by its site index (None: none declared).

    decode_video: whether the terminals decode the video they receive, or count its frames
    only (terminals/frame_counter.py); a function of the site index chooses per terminal.
    decode_audio: likewise for the audio they receive.
    content: every terminal's content input (docs/terminals.md), or a function of the site
    index choosing it per terminal; receive_content: whether they show received content on
    a second stream; content_codecs: their content m-line's codecs (None: the main video's);
    content_size: the size their content is rendered and sent at.
    state_dir: where each terminal keeps its camera presets (None: in memory only).
    sync_pattern: every terminal flashes and clicks on it (terminals/sync_pattern.py).
    """
    decodes = decode_video if callable(decode_video) else (lambda _index: decode_video)
    content_of = content if callable(content) else (lambda _index: content)
    if start_index < 0 or start_index + count > MAX_SITES:
        raise ValueError(f"site indices must stay within 0..{MAX_SITES - 1}")
    terminals = [
        SimulatedTerminal(
            uri=terminal_uri(uri_prefix, index),
            name=f"Site {terminal_uri(uri_prefix, index)}",
            site_index=index,
            capabilities=capabilities,
            answer_mode=answer_mode,
            ring_delay_s=ring_delay_s,
            media_address=media_address,
            video_format=video_format,
            analyse_every=analyse_every,
            send_log=send_log,
            decode_video=decodes(index),
            decode_audio=decode_audio,
            secret=secret_for(terminal_uri(uri_prefix, index)) if secret_for else None,
            content=content_of(index),
            receive_content=receive_content,
            device=device_for(index) if device_for else None,
            state_dir=state_dir,
            content_codecs=content_codecs,
            content_size=content_size,
            sync_pattern=sync_pattern,
        )
        for index in range(start_index, start_index + count)
    ]
    results = await asyncio.gather(*(t.start(server_url) for t in terminals),
                                   return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        await stop_terminals(terminals)
        raise failures[0]
    return terminals


async def stop_terminals(terminals: list[SimulatedTerminal]) -> None:
    await asyncio.gather(*(t.stop() for t in terminals), return_exceptions=True)


def stats_line(stats: TerminalStats) -> str:
    video = stats.video
    panes = ",".join(p.site_uri or (f"#{p.site_index}" if p.site_index is not None else "-")
                     for p in video.panes)
    latencies = [p.latency_ms_p50 for p in video.panes if p.latency_ms_p50 is not None]
    latency = f"{min(latencies):.0f}-{max(latencies):.0f}ms" if latencies else "-"
    heard = " ".join(f"{uri}:{level:.2f}" for uri, level in sorted(stats.heard.items())
                     if level >= 0.05)
    return (f"{stats.uri} {stats.state:<10} conf={stats.conf_id or '-'} "
            f"codec={stats.video_codec or '-'} sent={stats.frames_sent} "
            f"received={video.frames_received} decoded={video.frames_decoded} "
            f"key={video.keyframes_received} "
            f"{video.width}x{video.height} panes=[{panes}] latency={latency} "
            f"heard=[{heard}]")


def _panes_from(layout_json: Path | None, layout: str | None) -> list[Rect] | None:
    if layout is None:
        return None
    if layout_json is None:
        raise ValueError("--layout needs --layouts-json (the output of mcu-sim layouts --json)")
    for mode in json.loads(layout_json.read_text()):
        if mode["name"] == layout or str(mode["value"]) == layout:
            return [tuple(rect) for rect in mode["panes"]]
    raise ValueError(f"no layout {layout} in {layout_json}")


def _video_format(size: str, fps: int) -> VideoFormat:
    width, _, height = size.lower().partition("x")
    return VideoFormat(int(width), int(height), fps)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--count", type=int, default=4, help="terminals to run (default 4)")
    parser.add_argument("--server", default=DEFAULT_SERVER,
                        help=f"the MCU's signalling WebSocket (default {DEFAULT_SERVER})")
    parser.add_argument("--uri-prefix", default="0101", help="URI = prefix + 2-digit index")
    parser.add_argument("--start-index", type=int, default=0,
                        help="site index of the first terminal (marker and voice; 0..63)")
    parser.add_argument("--answer", choices=["answer", "decline", "never"], default="answer")
    parser.add_argument("--ring-delay", type=float, default=1.0, help="seconds before answering")
    parser.add_argument("--media-address", help="ICE host candidate (default 127.0.0.1)")
    parser.add_argument("--video-size", default="1280x720", help="sent video size (WxH)")
    parser.add_argument("--fps", type=int, default=30, help="sent video frame rate")
    parser.add_argument("--analyse-every", type=int, default=10,
                        help="read pane markers on every k-th decoded frame")
    parser.add_argument("--no-decode", action="store_true",
                        help="count received video frames without decoding them (load tests: "
                        "no picture, panes or latency)")
    parser.add_argument("--layouts-json", type=Path,
                        help="output of `mcu-sim layouts --json`, for --layout")
    parser.add_argument("--layout", help="read the panes of this CP mode (name or value)")
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="directory where each terminal keeps its camera presets "
                             "(<uri>.camera-presets.json; default: in memory only)")
    parser.add_argument("--stats-interval", type=float, default=5.0,
                        help="seconds between stats lines (0: none)")
    parser.add_argument("--secret", default=None,
                        help=f"every terminal's signalling secret (or ${SECRET_ENV}); "
                             "default: derived from the provisioning key")
    parser.add_argument("--provisioning-key", default=None,
                        help=f"derive each URI's secret from this key (or ${PROVISIONING_KEY_ENV}"
                             "); default: the public lab key of the MCU's embedded defaults")
    parser.add_argument("--content", choices=sorted(CONTENT_KINDS), default=None,
                        help="give every terminal a content input starting with this "
                             "document (shared on the second video stream while it holds "
                             "the floor); default: none")
    parser.add_argument("--no-content-receive", action="store_true",
                        help="the terminals show no received content: their content "
                             "m-line is sendonly (with --content) or inactive")
    parser.add_argument("--device", type=Path, metavar="FILE",
                        help="the device every terminal declares, as TOML (docs/terminals.md)")
    parser.add_argument("--screens", type=int, default=None,
                        help="declare a device of this many screens (1..3; default 1 with "
                             "--inputs)")
    parser.add_argument("--inputs", default=None, metavar="KINDS",
                        help="declare a device with these video inputs, in order, from camera, "
                             "pc, doc-camera (default camera,pc with --screens)")
    parser.add_argument("--sync-pattern", type=_sync_period, nargs="?", const=DEFAULT_PERIOD_S,
                        default=None, metavar="PERIOD_S",
                        help="flash the picture white and click in the voice at the same "
                             "instant every PERIOD_S seconds of the wall clock (default "
                             f"{DEFAULT_PERIOD_S:g}), for terminals.av_sync")
    sip = parser.add_argument_group("SIP room systems (--sip: terminals/sip_room_command.py)")
    sip.add_argument("--sip", action="store_true",
                     help="run SIP room systems instead of WebRTC terminals")
    sip.add_argument("--video-codecs", default="h264,h263",
                     help="video codecs in order (h264, h264-cb, h263, h263p, h261, vp8)")
    sip.add_argument("--audio-codecs", default="g722,pcmu",
                     help="audio codecs in order (opus, g722, pcmu, pcma)")
    sip.add_argument("--encryption", type=int, choices=[0, 1, 2], default=0,
                     help="0 SRTP when offered, 1 SRTP only, 2 plain RTP only")
    sip.add_argument("--sip-port", type=int, default=0,
                     help="SIP UDP port of the first room (0: ephemeral ports)")
    sip.add_argument("--register", metavar="SIP-URI", default=None,
                     help="register each room's number with this registrar (the MCU's)")
    sip.add_argument("--dial", metavar="URI", default=None,
                     help="each room calls this URI (sip:<accessCode>[*<password>]@<mcu>)")
    sip.add_argument("--content-receive", action="store_true",
                     help="each room shows received content on a second screen (a content "
                          "m-line and BFCP, RFC 8856, in its calls); --content gives it a "
                          "content input as well (and the second screen unless "
                          "--no-content-receive)")
    sip.add_argument("--share", action="store_true",
                     help="with --content: each room asks for the content floor (BFCP "
                          "FloorRequest) once its call is up")
    parser.add_argument("--call", action="append", default=[], metavar="FROM=TO",
                        type=parse_call,
                        help="once registered, terminal URI FROM (one of these) calls URI TO "
                             "point to point (any registered terminal); repeatable")


def _sync_period(value: str) -> float:
    try:
        period = float(value)
        SyncPattern(period)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"--sync-pattern {value!r}: {error}") from None
    return period


def parse_call(value: str) -> tuple[str, str]:
    """`--call FROM=TO` -> (FROM, TO): two non-empty, different URIs."""
    caller, sep, callee = value.partition("=")
    caller, callee = caller.strip(), callee.strip()
    if not sep or not caller or not callee or caller == callee:
        raise argparse.ArgumentTypeError(f"{value!r}: give FROM=TO, two different URIs")
    return caller, callee


async def place_calls(terminals: list[SimulatedTerminal], calls: list[tuple[str, str]]) -> None:
    """The --call list: each FROM terminal of this process calls its TO URI."""
    by_uri = {terminal.uri: terminal for terminal in terminals}
    for caller, callee in calls:
        terminal = by_uri.get(caller)
        if terminal is None:
            raise ValueError(f"--call {caller}={callee}: {caller} is not one of these terminals")
        try:
            await terminal.call(callee)
        except CallRefused as refusal:
            print(f"call {caller} -> {callee} refused: {refusal}", flush=True)
        else:
            print(f"call {caller} -> {callee} answered", flush=True)


def freeze_startup_objects() -> None:
    """The terminals' encoded loops, speech tables and sessions live as long as the process:
    keep them out of the cyclic garbage collector's full passes (~25 ms each, stalling
    sending and receiving)."""
    gc.collect()
    gc.freeze()


def secret_source(secret: str | None, provisioning_key: str | None) -> Callable[[str], str]:
    """Each URI's secret: `secret` (option, then environment) for all, else the one derived
    from the provisioning key (option, then environment, then the public lab key)."""
    fixed = secret if secret is not None else os.environ.get(SECRET_ENV)
    if fixed is not None:
        if not fixed:
            raise ValueError("an empty terminal secret")
        return lambda _uri: fixed
    key = provisioning_key or os.environ.get(PROVISIONING_KEY_ENV) or LAB_PROVISIONING_KEY
    return lambda uri: provisioned_secret(key, uri)


def device_source(args: argparse.Namespace) -> Callable[[int], Device | None] | None:
    """Each terminal's device by its site index, from --device or --screens/--inputs; None
    when neither is given (the terminals declare none)."""
    if args.device is not None:
        if args.screens is not None or args.inputs is not None:
            raise ValueError("--device FILE or --screens/--inputs, not both")
        device = device_from_toml(args.device)
        return lambda _index: device
    if args.screens is None and args.inputs is None:
        return None
    screens = 1 if args.screens is None else args.screens
    kinds = parse_inputs("camera,pc" if args.inputs is None else args.inputs)
    device_from_options(screens, kinds)  # refused now, before any terminal starts
    return lambda index: device_from_options(screens, kinds, site_index=index)


async def _run(args: argparse.Namespace) -> int:
    panes = _panes_from(args.layouts_json, args.layout)
    if args.sip:
        from terminals.sip_room_command import run_rooms
        return await run_rooms(args, panes)
    secret_for = secret_source(args.secret, args.provisioning_key)
    terminals = await start_terminals(
        args.server, args.count, uri_prefix=args.uri_prefix, start_index=args.start_index,
        answer_mode=args.answer, ring_delay_s=args.ring_delay, media_address=args.media_address,
        video_format=_video_format(args.video_size, args.fps), analyse_every=args.analyse_every,
        decode_video=not args.no_decode, secret_for=secret_for, content=args.content,
        receive_content=not args.no_content_receive, device_for=device_source(args),
        state_dir=args.state_dir,
        sync_pattern=None if args.sync_pattern is None else SyncPattern(args.sync_pattern))
    freeze_startup_objects()
    for terminal in terminals:
        terminal.set_panes(panes)
        print(f"registered {terminal.uri} ({terminal.name}, site index {terminal.site_index}"
              f", {describe(terminal.device)})", flush=True)
    try:
        await place_calls(terminals, args.call)
    except ValueError:
        await stop_terminals(terminals)
        raise
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stopped.set)
    try:
        while not stopped.is_set():
            with contextlib.suppress(TimeoutError):
                await within(stopped.wait(), args.stats_interval or None)
            if args.stats_interval and not stopped.is_set():
                for terminal in terminals:
                    print(stats_line(terminal.stats()), flush=True)
    finally:
        await stop_terminals(terminals)
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_run(args))
    except (ValueError, OSError, TimeoutError, RegistrationRefused, SipCallFailed) as error:
        print(f"mcu-sim terminals: {error}", file=sys.stderr)
        return 2
