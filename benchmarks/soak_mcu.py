"""The MCU of the soak (benchmarks/soak.py): `mcu-sim serve --no-terminals` in a child
process that also answers a stats request over its stdin/stdout, so the runner learns what
only the process itself can tell (its asyncio tasks). Nothing of this is in the gateway.

    child -> parent  {"serving": base_url}
    parent -> child  {"cmd": "stats", "heap_baseline": false}
    child -> parent  {"tasks": n, "task_kinds": {coroutine: n}, "threads": n,
                      "gc_objects": n, "owners": {type: n}, "thread_names": {name: n},
                      "gc_types": {type: n}, "python_heap": {...}, "memory": {...}}
                     after a full collection, so that garbage not yet collected does not
                     read as a leak; owners: NATIVE_OWNERS alive; gc_types: every type
                     tracked by the collector with its count; python_heap: with
                     --tracemalloc, the traced Python allocations (current, peak, KiB) and
                     the top tracebacks growing since the baseline: the first stats
                     request, or the latest with "heap_baseline": true; memory: Python's
                     allocated blocks and glibc's malloc in use / free / mmapped (KiB)
    parent -> child  {"cmd": "trim"}
    child -> parent  {"rss_before_kib": n, "rss_after_kib": n, "released": 0/1}
                     glibc's malloc_trim(0): how much of the RSS is free memory the
                     allocator held rather than memory in use
    parent -> child  {"cmd": "stop"}  (or end of input)
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import dataclasses
import gc
import json
import logging
import sys
import threading
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

from app.process import RunningServer, running_server
from app.serve_command import freeze_startup_objects
from gateway.settings import load_settings, parse_account
from gateway.signalling import SIGNALLING
from mcu.media.heap_trim import limit_malloc_arenas
from rtc.malloc_trim import glibc_malloc_trim


def _answer(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


# Objects that own memory outside Python's heap (FFmpeg contexts, aiortc's per-call state,
# the MCU's per-call media): counted by type name, a call's leftovers show here first.
NATIVE_OWNERS = ("CodecContext", "VideoCodecContext", "AudioCodecContext", "RTCPeerConnection",
                 "RTCRtpReceiver", "RTCRtpSender", "RTCDtlsTransport", "RTCIceTransport",
                 "JitterBuffer", "SiteMedia", "EncoderGroup", "InlineAudioDecoder",
                 "LatestPictureDecoder")


TRACEMALLOC_FRAMES = 12
TRACEMALLOC_TOP = 15


class PythonHeap:
    """tracemalloc's view (opt-in, --tracemalloc: it slows every allocation): the first
    snapshot is the baseline, every later one is compared with it by traceback."""

    def __init__(self) -> None:
        self.baseline: tracemalloc.Snapshot | None = None

    @staticmethod
    def start() -> None:
        tracemalloc.start(TRACEMALLOC_FRAMES)

    def report(self, baseline: bool = False) -> dict[str, Any]:
        if not tracemalloc.is_tracing():
            return {}
        current, peak = tracemalloc.get_traced_memory()
        snapshot = tracemalloc.take_snapshot().filter_traces(
            (tracemalloc.Filter(False, tracemalloc.__file__),))
        answer: dict[str, Any] = {"current_kib": current // 1024, "peak_kib": peak // 1024}
        if self.baseline is None or baseline:
            self.baseline = snapshot
            return answer
        diffs = snapshot.compare_to(self.baseline, "traceback")
        answer["top_growth"] = [
            {"size_diff_kib": round(d.size_diff / 1024, 1), "count_diff": d.count_diff,
             "size_kib": round(d.size / 1024, 1),
             "traceback": [f"{f.filename}:{f.lineno}" for f in d.traceback]}
            for d in diffs[:TRACEMALLOC_TOP]]
        return answer


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def malloc_trim() -> dict[str, int]:
    """glibc's malloc_trim(0) and the RSS around it (nothing on another C library)."""
    trim = glibc_malloc_trim()
    before = _rss_kib()
    released = trim(0) if trim is not None else 0
    return {"rss_before_kib": before, "rss_after_kib": _rss_kib(), "released": released}


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def memory_split() -> dict[str, int]:
    """Where the memory is, cheaply (no tracing): Python's object allocator's blocks in use
    (sys.getallocatedblocks: objects in pymalloc's arenas, which it maps itself) and glibc's
    malloc (mallinfo2: bytes in use and free in its heaps, and in mmapped blocks): FFmpeg,
    x264, OpenSSL and numpy memory is malloc's. KiB; the malloc figures absent on another
    C library."""
    split = {"python_blocks": sys.getallocatedblocks()}
    try:
        function = ctypes.CDLL(None).mallinfo2
    except (AttributeError, OSError):
        return split
    function.restype = _Mallinfo2
    info = function()
    split.update(malloc_in_use_kib=info.uordblks // 1024, malloc_free_kib=info.fordblks // 1024,
                 malloc_mmapped_kib=info.hblkhd // 1024)
    return split


def heap_trims(server: RunningServer) -> dict[str, Any]:
    """The MCU's own malloc_trim calls after calls end (mcu/media/heap_trim.py)."""
    trimmer = server.app[SIGNALLING].engine.heap_trimmer
    return {"available": trimmer.available, **dataclasses.asdict(trimmer.stats)}


def stats(heap: PythonHeap, server: RunningServer, heap_baseline: bool = False
          ) -> dict[str, Any]:
    gc.collect()
    tasks = asyncio.all_tasks()
    kinds = Counter(getattr(task.get_coro(), "__qualname__", "?") for task in tasks)
    objects = gc.get_objects()
    types = Counter(type(obj).__qualname__ for obj in objects)
    owners = {name: n for name, n in
              Counter(type(obj).__name__ for obj in objects).items() if name in NATIVE_OWNERS}
    del objects
    return {"tasks": len(tasks), "task_kinds": dict(kinds),
            "threads": threading.active_count(), "gc_objects": sum(types.values()),
            "owners": owners, "gc_types": dict(types),
            "python_heap": heap.report(heap_baseline), "memory": memory_split(), "heap_trims": heap_trims(server),
            "thread_names": dict(Counter(t.name.rstrip("0123456789_-") for t in
                                         threading.enumerate()))}


async def run_child(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = load_settings(None, host="127.0.0.1", port=args.port, data_dir=Path(args.data_dir))
    settings = settings.with_account(*parse_account(args.account))
    limit_malloc_arenas()  # as `mcu-sim serve --no-terminals` does, before the media threads
    loop = asyncio.get_running_loop()
    heap = PythonHeap()
    if args.tracemalloc:
        heap.start()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with running_server(settings) as server:
        freeze_startup_objects()
        _answer({"serving": server.base_url})
        while line := await reader.readline():
            command = json.loads(line)
            if command.get("cmd") == "stats":
                _answer(stats(heap, server, bool(command.get("heap_baseline"))))
            elif command.get("cmd") == "trim":
                _answer(malloc_trim())
            elif command.get("cmd") == "stop":
                break
            else:
                _answer({"error": f"unknown command {command.get('cmd')!r}"})
    return 0
