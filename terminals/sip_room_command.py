"""`mcu-sim terminals --sip`: N simulated SIP room systems (terminals/sip_room.py) in one
process until interrupted.

Room i (i = start_index .. start_index + count - 1) has the user `<uri-prefix><i:02d>` and
site index i (its marker and voice), listens on 127.0.0.1 (`--media-address`) at
`--sip-port` + (i - start_index) (0: ephemeral ports), sends `--video-size` at `--fps`
(H.261/H.263 at CIF, their fixed size), answers the MCU's INVITEs after
`--ring-delay`, with `--video-codecs` / `--audio-codecs` in that order of preference and
`--encryption` (mediaEncryptType's 0 auto, 1 SRTP only, 2 plain only). `--register SIP-URI`
registers each room's number with that registrar (the MCU's: `sip:<mcu>:<sip port>`), so a
conference booking the bare number calls it; `--dial URI` makes each room call it (a
conference: `sip:<accessCode>[*<password>]@<mcu>`). `--content KIND` gives each room a
content input (the KIND document's pages first) and a second screen (none with
`--no-content-receive`), `--content-receive` a second screen: their calls then carry a
content m-line and a BFCP m-line (the room a floor
control client, docs/sip.md "Content and BFCP for SIP sites"); `--share` makes each room ask
for the floor once its call is up (it sends its pages while it holds it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from rtc.deadline import within
from rtp.encryption_policy import MediaEncryptType
from sip.values import SipUri
from terminals.marker import Rect
from terminals.sip_room import SipRoom


def _names(value: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in value.split(",") if name.strip())


def _size(value: str) -> tuple[int, int]:
    width, _, height = value.lower().partition("x")
    return int(width), int(height)


async def start_rooms(args: argparse.Namespace) -> list[SipRoom]:
    rooms: list[SipRoom] = []
    try:
        for offset in range(args.count):
            index = args.start_index + offset
            room = SipRoom(
                f"{args.uri_prefix}{index:02d}", index,
                host=args.media_address or "127.0.0.1",
                video_codecs=_names(args.video_codecs), audio_codecs=_names(args.audio_codecs),
                encryption=MediaEncryptType(args.encryption), fps=args.fps,
                video_size=_size(args.video_size),
                ring_delay=args.ring_delay,
                port=args.sip_port + offset if args.sip_port else 0,
                content=args.content,
                receive_content=args.content_receive
                or (args.content is not None and not args.no_content_receive))
            await room.start()
            rooms.append(room)
            if args.register:
                host = SipUri.parse(args.register, "URI").host
                await room.register(args.register, f"sip:{room.user}@{host}")
    except BaseException:
        for room in rooms:
            await room.close()
        raise
    return rooms


async def run_rooms(args: argparse.Namespace, panes: list[Rect] | None) -> int:
    rooms = await start_rooms(args)
    for room in rooms:
        room.set_panes(panes)
        registered = f", registered with {args.register}" if args.register else ""
        print(f"listening {room.uri} (site index {room.site_index}{registered})", flush=True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stopped.set)
    sharing: list[asyncio.Task[None]] = []
    try:
        for room in rooms if args.dial else []:
            await room.dial(args.dial)
            print(f"{room.uri} dialled {args.dial}", flush=True)
        sharing.extend(asyncio.create_task(share_when_connected(room, stopped))
                       for room in (rooms if args.share and args.content else []))
        while not stopped.is_set():
            with contextlib.suppress(TimeoutError):
                await within(stopped.wait(), args.stats_interval or None)
            if args.stats_interval and not stopped.is_set():
                for room in rooms:
                    if room.call is not None:
                        await room.read_panes()
                        if room.content is not None:
                            await room.read_content()
                    print(room.stats_line(), flush=True)
    finally:
        for task in sharing:
            task.cancel()
        for room in rooms:
            await room.close()
    return 0


async def share_when_connected(room: SipRoom, stopped: asyncio.Event) -> None:
    """`--share`: once the room's call has its floor connection, ask for the floor (once)."""
    while not stopped.is_set():
        if room.floor_connected:
            status = await room.request_floor()
            print(f"{room.uri} floor request: {status.name}", flush=True)
            return
        await asyncio.sleep(0.2)
