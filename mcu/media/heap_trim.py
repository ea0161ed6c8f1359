"""Give the C heap's free memory back to the system after calls end.

A call's media lives mostly outside Python's heap: FFmpeg's decoder and encoder contexts and
their frame pools, numpy pictures, aiortc's packet buffers, allocated by glibc's malloc from
every thread that decodes, scales and encodes. When the call ends all of it is freed, but
glibc keeps freed memory in its heaps (the main arena and one per thread group) until a
free chunk at the very top of a heap reaches its trim threshold; pages under a live
allocation stay resident. Its dynamic mmap threshold adds to this: once a large block that
was mmap()ed is freed, later blocks up to that size (a 4CIF picture, an encoder's buffers)
come from the heaps too. Under call churn the resident set therefore kept growing by tens
of MiB per minute with no object left behind (docs/benchmarks.md, "Soak").

The free memory also piles up while calls merely run (every picture, packet and encoded
frame is allocated in one thread and freed in another): the soak measured 27 MiB released by
one malloc_trim 20 s after the previous one, with no call ended in between.

`malloc_trim(0)` walks every arena and returns each free page to the system
(madvise(MADV_DONTNEED)), not only the top of the heaps. It holds each arena's lock while it
walks it (10-25 ms measured with a 4-site conference), so it runs off the event loop: once
the calls that just ended have been torn down (SETTLE_S after a call end: aiortc closes a
peer connection's transports and codecs asynchronously), every PERIOD_S while media is live,
and never more often than every MIN_INTERVAL_S. On a C library without malloc_trim (musl,
macOS) nothing is done.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

SETTLE_S = 2.0  # after a call ends, before its memory is trimmed (its teardown finishes)
MIN_INTERVAL_S = 10.0  # between two trims, however many calls end
PERIOD_S = 10.0  # while media is live


def glibc_malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim(pad) from the C library the process runs on, or None elsewhere."""
    try:
        function = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):
        return None
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    trim: Callable[[int], int] = function
    return trim


@dataclass
class HeapTrimStats:
    trims: int = 0  # malloc_trim calls made
    released: int = 0  # of which returned memory to the system (malloc_trim answered 1)
    last_duration_s: float = 0.0
    total_duration_s: float = 0.0


class HeapTrimmer:
    """Trims the C heap once the calls that ended have been torn down, rate-limited."""

    def __init__(self, trim: Callable[[int], int] | None = None, *,
                 settle_s: float = SETTLE_S, min_interval_s: float = MIN_INTERVAL_S) -> None:
        self._trim = trim
        self.settle_s = settle_s
        self.min_interval_s = min_interval_s
        self.stats = HeapTrimStats()
        self._last_started: float | None = None  # loop time of the last trim
        self._timer: asyncio.TimerHandle | None = None
        self._running: asyncio.Future[None] | None = None
        self._periodic: asyncio.Task[None] | None = None

    @classmethod
    def for_this_process(cls) -> HeapTrimmer:
        return cls(glibc_malloc_trim())

    @property
    def available(self) -> bool:
        return self._trim is not None

    def start(self, media_live: Callable[[], bool], period_s: float = PERIOD_S) -> None:
        """Trim every period_s while media_live() (conferences with media) says so."""
        if self._trim is None or self._periodic is not None:
            return
        self._periodic = asyncio.get_running_loop().create_task(
            self._every(period_s, media_live), name="heap trim")

    async def _every(self, period_s: float, media_live: Callable[[], bool]) -> None:
        while True:
            await asyncio.sleep(period_s)
            if media_live():
                self.call_ended()

    def call_ended(self) -> None:
        """A call's media was closed: trim SETTLE_S from now, or when MIN_INTERVAL_S has
        passed since the last trim; a trim already due covers this call too."""
        if self._trim is None or self._timer is not None:
            return
        loop = asyncio.get_running_loop()
        due = loop.time() + self.settle_s
        if self._last_started is not None:
            due = max(due, self._last_started + self.min_interval_s)
        self._timer = loop.call_at(due, self._start)

    def _start(self) -> None:
        self._timer = None
        if self._running is not None and not self._running.done():
            self.call_ended()  # still trimming (a slow machine): once it is done
            return
        loop = asyncio.get_running_loop()
        self._last_started = loop.time()
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
        if self._periodic is not None:
            self._periodic.cancel()
            self._periodic = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._running is not None:
            await self._running
