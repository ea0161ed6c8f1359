"""Give a call's memory back to the system after it ends.

An ended call's aiortc objects (peer connection, transceivers, receivers with jitter
buffers of RTP packets, SRTP sessions, DTLS contexts, sockets) refer to one another in
cycles: only a full collection of the cyclic garbage collector frees them, and with the
start-up objects frozen out of it (app/serve_command.py) the automatic full collection runs
rarely. Measured with three terminals hanging up and dialling in twice: 10,942 objects of
six dead calls waiting, 1,770 of them RTP packets. So once the calls that ended have been
torn down (SETTLE_S after a call end: aiortc closes a peer connection's transports and codecs
asynchronously) the trimmer runs a full collection on the loop (37 ms on average in the
soak; at most once every MIN_INTERVAL_S), then trims.

The calls' memory outside Python's heap (SRTP sessions, OpenSSL contexts, FFmpeg's codec
contexts and frame pools, numpy pictures) is allocated by glibc's malloc from every thread
that decodes, scales and encodes; freed, glibc keeps it in its heaps until a free chunk at
the very top of a heap reaches its trim threshold (pages under a live allocation stay
resident, and its dynamic mmap threshold serves large blocks from the heaps once one such
block was freed). `malloc_trim(0)` walks every arena and returns each free page to the
system (madvise(MADV_DONTNEED)). It holds each arena's lock while it walks it (10 ms on
average, up to 60 ms under load, with a 4-site conference), so it runs off the event loop,
after the collection above. Not periodically while calls merely run: alone it gave nothing
back in the soak (the memory was not free yet), and in `mcu-sim demo`, where the terminals
share the MCU's process and arenas, voice switching took 3.3-4.6 s with a trim every 10 s
and passed its 2.5 s expectation without (tests/test_browser.py, twice and twice, load 7-14).
On a C library without malloc_trim (musl, macOS) only the collection is done.

The soak (docs/benchmarks.md, "Soak: calls' garbage and the allocator") measured what each
part gives back.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from rtc.malloc_trim import glibc_malloc_trim

log = logging.getLogger(__name__)

SETTLE_S = 2.0  # after a call ends, before its memory is trimmed (its teardown finishes)
MIN_INTERVAL_S = 10.0  # between two trims, however many calls end


M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)
MALLOC_ARENAS = 2  # the soak's measured choice (docs/benchmarks.md, "Soak: the two targets")
# Applied by a dedicated MCU process only (`mcu-sim serve --no-terminals`, the soak's MCU):
# where simulated terminals share the process, their decoders and encoders contend for the
# two heaps' locks (an in-process picture test timed out with two heaps, passed with 16).


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Let glibc's malloc use at most `arenas` heaps for the whole process (mallopt
    M_ARENA_MAX; glibc's default is 8 per core). Whether the limit was set: not when the
    environment sets MALLOC_ARENA_MAX (the operator's choice stands), nor on another C
    library.

    Why: every thread other than the main one mallocs from a heap of its own as long as
    glibc allows new ones, and the MCU's threads come and go with the calls (aiortc's
    decoder thread per receiver, FFmpeg's and x264's threads, the media workers). Each
    heap keeps its own free memory, and what lies between chunks in use in pieces smaller
    than a page stays resident: no trim returns it. In the soak (4 sites, a call ending
    every 5 s) the MCU's thread heaps grew from 24 to 45 MiB in 2 minutes with malloc's
    memory in use unchanged, RSS END 10-12 % over START; with two heaps, +0.9 %, frames
    lost and recovery unchanged. Effective for the heaps created after it: call it at
    start-up, before the media threads run (app/serve_command.py does, for a process
    without simulated terminals) (glibc fixes its limit when a thread first needs
    a new heap beyond its first eight)."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, arenas))


@dataclass
class HeapTrimStats:
    trims: int = 0  # malloc_trim calls made
    released: int = 0  # of which returned memory to the system (malloc_trim answered 1)
    last_duration_s: float = 0.0
    total_duration_s: float = 0.0
    collections: int = 0  # full garbage collections after calls ended
    collected: int = 0  # unreachable objects they found
    collect_duration_s: float = 0.0  # their total time, on the loop


class HeapTrimmer:
    """Collects the garbage of the calls that ended once they have been torn down and trims
    the C heap, rate-limited."""

    def __init__(self, trim: Callable[[int], int] | None = None, *,
                 settle_s: float = SETTLE_S, min_interval_s: float = MIN_INTERVAL_S,
                 collect: Callable[[], int] = gc.collect) -> None:
        self._trim = trim
        self._collect = collect
        self._calls_ended = False  # since the last trim: collect the garbage first
        self.settle_s = settle_s
        self.min_interval_s = min_interval_s
        self.stats = HeapTrimStats()
        self._last_started: float | None = None  # loop time of the last trim
        self._timer: asyncio.TimerHandle | None = None
        self._running: asyncio.Future[None] | None = None

    @classmethod
    def for_this_process(cls) -> HeapTrimmer:
        return cls(glibc_malloc_trim())

    @property
    def available(self) -> bool:
        return self._trim is not None

    def call_ended(self) -> None:
        """A call's media was closed: collect and trim SETTLE_S from now, or when
        MIN_INTERVAL_S has passed since the last trim; one already due covers this call."""
        self._calls_ended = True
        self._request()

    def _request(self) -> None:
        if self._timer is not None:
            return
        loop = asyncio.get_running_loop()
        due = loop.time() + self.settle_s
        if self._last_started is not None:
            due = max(due, self._last_started + self.min_interval_s)
        self._timer = loop.call_at(due, self._start)

    def _start(self) -> None:
        self._timer = None
        if self._running is not None and not self._running.done():
            self._request()  # still trimming (a slow machine): once it is done
            return
        loop = asyncio.get_running_loop()
        self._last_started = loop.time()
        if self._calls_ended:
            self._calls_ended = False
            began = time.perf_counter()
            self.stats.collected += self._collect()
            self.stats.collections += 1
            self.stats.collect_duration_s += time.perf_counter() - began
        if self._trim is not None:
            self._running = asyncio.ensure_future(loop.run_in_executor(None, self._run))

    def _run(self) -> None:
        assert self._trim is not None
        began = time.perf_counter()
        released = self._trim(0)
        elapsed = time.perf_counter() - began
        self.stats.trims += 1
        self.stats.released += 1 if released else 0
        self.stats.last_duration_s = elapsed
        self.stats.total_duration_s += elapsed
        log.debug("malloc_trim: %s in %.1f ms", "released" if released else "nothing",
                  1000 * elapsed)

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._running is not None:
            await self._running
