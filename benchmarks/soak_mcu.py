"""The MCU of the soak (benchmarks/soak.py): `mcu-sim serve --no-terminals` in a child
process that also answers a stats request over its stdin/stdout, so the runner learns what
only the process itself can tell (its asyncio tasks). Nothing of this is in the gateway.

    child -> parent  {"serving": base_url}
    parent -> child  {"cmd": "stats"}
    child -> parent  {"tasks": n, "task_kinds": {coroutine: n}, "threads": n,
                      "gc_objects": n, "owners": {type: n}, "thread_names": {name: n}}
                     after a full collection, so that garbage not yet collected does not
                     read as a leak; owners: NATIVE_OWNERS alive
    parent -> child  {"cmd": "stop"}  (or end of input)
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from app.process import running_server
from app.serve_command import freeze_startup_objects
from gateway.settings import load_settings, parse_account


def _answer(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


# Objects that own memory outside Python's heap (FFmpeg contexts, aiortc's per-call state,
# the MCU's per-call media): counted by type name, a call's leftovers show here first.
NATIVE_OWNERS = ("CodecContext", "VideoCodecContext", "AudioCodecContext", "RTCPeerConnection",
                 "RTCRtpReceiver", "RTCRtpSender", "RTCDtlsTransport", "RTCIceTransport",
                 "JitterBuffer", "SiteMedia", "EncoderGroup", "InlineAudioDecoder")


def stats() -> dict[str, Any]:
    gc.collect()
    tasks = asyncio.all_tasks()
    kinds = Counter(getattr(task.get_coro(), "__qualname__", "?") for task in tasks)
    objects = gc.get_objects()
    owners = Counter(name for obj in objects
                     if (name := type(obj).__name__) in NATIVE_OWNERS)
    return {"tasks": len(tasks), "task_kinds": dict(kinds),
            "threads": threading.active_count(), "gc_objects": len(objects),
            "owners": dict(owners),
            "thread_names": dict(Counter(t.name.rstrip("0123456789_-") for t in
                                         threading.enumerate()))}


async def run_child(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = load_settings(None, host="127.0.0.1", port=args.port, data_dir=Path(args.data_dir))
    settings = settings.with_account(*parse_account(args.account))
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with running_server(settings) as server:
        freeze_startup_objects()
        _answer({"serving": server.base_url})
        while line := await reader.readline():
            command = json.loads(line)
            if command.get("cmd") == "stats":
                _answer(stats())
            elif command.get("cmd") == "stop":
                break
            else:
                _answer({"error": f"unknown command {command.get('cmd')!r}"})
    return 0
