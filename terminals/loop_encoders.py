"""Where the simulated terminals' camera loops are encoded: worker processes of their own.

A loop is drawn and encoded once per codec, format and picture (a call's first, a send
ladder ask, a still picture after a move: terminals/camera_track.LoopCache). That is a few
seconds of a core per loop. It used to run on threads of the terminals' own process, 10
nicer than it; a thread cannot be made much nicer than that: one holding the GIL while it
waits for a core holds up every thread of its process (the terminals' sending; in
`mcu-sim serve` with its built-in terminals, the MCU itself). While three 4-site
conferences' ladders settled at once, the slowest receiver got 20-23 fps (docs/benchmarks.md,
"Stop 19").

Here the loops are encoded in two pools of `LOOP_ENCODE_WORKERS` processes (as many as the
process has cores, at most 2), each started with "spawn" (never fork: a forked copy of a
process with threads may inherit a held lock) the first time it is needed, and kept for the
process's life. A worker sets every thread it has to its pool's niceness when it starts
(those it starts later, x264's and OpenCV's, inherit it), and its GIL is its own:

- `WAITED_LOOP_ENCODERS`: the loops a call waits for (its first: nothing to send yet),
  LOOP_ENCODE_NICENESS (10) nicer than the parent, as the threads were;
- `BACKGROUND_LOOP_ENCODERS`: the loops a terminal goes on sending its current loop
  meanwhile (a send ladder ask, a still picture after a move, a new camera format), at
  nice 19: they run on a core nothing else wants and take only a small share of a busy
  one, so they hardly delay real-time work (the MCU's, the terminals' sending). On a busy
  machine the ask is honoured later. (SCHED_IDLE was tried: smoother still, but it
  starves the encodes outright on a full machine.) A call that waits for a loop never
  waits for one of these: it encodes its own in the waited pool.

A terminal starts the background pool when it starts (SimulatedTerminal.start, before its
first loop, which starts the waited one), so that its workers' own start (about a second
of a core each, at the parent's priority until they lower it) does not fall in a call.
Each worker ends within a second of the process that started it (it watches its parent:
the pool's pipes would never tell it) and ignores Ctrl-C, which is its parent's to handle.

The scene travels by pickle (terminals/scene.CameraScene as what defines it; the main
picture as the scene, the tags and the state: camera_track.encode_main_loop rebuilds it in
the worker), and the encoded loop comes back as its packets.

A worker that dies (killed, out of memory) breaks its pool: the next encode starts a new
pool and tries once more. Where processes cannot be started at all (PermissionError,
OSError) the loops are encoded on threads of this process, and a warning says so.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from rtc.malloc_trim import glibc_malloc_trim

log = logging.getLogger(__name__)

T = TypeVar("T")  # what a worker's function returns (an EncodedLoop)

LOOP_ENCODE_NICENESS = 10  # the waited loops' workers: this much nicer than the parent
BACKGROUND_NICENESS = 19  # the background loops' workers: the nicest there is
PARENT_CHECK_S = 1.0  # how often a worker looks whether its parent is still there


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 2


# x264 encodes with threads of its own, so more workers than that buy little. An idle
# worker holds about 100 MB (numpy, PyAV, OpenCV, and what its parent's main module
# imports); an encode takes more (the drawn pictures, x264's buffers: about 80 MB for a
# 960x540 loop, 220 MB for a 1280x720 one), given back after each loop (_encode_then_trim)
LOOP_ENCODE_WORKERS = min(cores(), 2)


def _encode_then_trim(draw_and_encode: Callable[..., T], *args: object) -> T:
    """In a worker: draw_and_encode(*args), then the C heap it freed back to the system
    (glibc's malloc_trim). Without it glibc keeps a loop's working memory in the worker's
    heaps for good: measured on a 1280x720 loop, 104 MB before the first encode, 324 MB
    resident after it, idle, for the process's life (and a terminals process has up to
    two pools of LOOP_ENCODE_WORKERS). Not done on the terminals' own process (the thread
    fallback): a trim walks every heap under its lock, which the sending threads share
    (mcu/media/heap_trim.py says what that cost the demo)."""
    try:
        return draw_and_encode(*args)
    finally:
        trim = glibc_malloc_trim()
        if trim is not None:
            trim(0)


def _bound_to(parent: int) -> None:
    """In a worker: end with the process that started it, and leave Ctrl-C to it.

    The pool's queues keep a pipe's both ends open in the worker, so a worker whose parent
    was killed would never read an end of file: a daemon thread looks every
    PARENT_CHECK_S whether the parent is still its parent (a killed parent's children are
    handed to init or a subreaper) and ends the worker if not. (PR_SET_PDEATHSIG would be
    tied to the parent's *thread* that started the worker, and the pool starts workers
    from whichever thread submits.) SIGINT (a terminal's Ctrl-C reaches the whole process
    group) is ignored: the parent shuts the pool down."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _renice_all(niceness: int) -> None:
    """Every thread of this process at `niceness` (Linux sets it per thread: those started
    before, e.g. by an import, keep theirs otherwise; later ones inherit their creator's)."""
    try:
        threads = [int(task) for task in os.listdir("/proc/self/task")]
    except OSError:
        threads = [0]  # no /proc: this thread (the whole process elsewhere than Linux)
    for thread in threads:
        try:
            os.setpriority(os.PRIO_PROCESS, thread, niceness)
        except (OSError, AttributeError):
            pass  # not allowed here (or not POSIX): the parent's priority


def nicer(parent: int) -> None:
    """In a worker: every thread LOOP_ENCODE_NICENESS nicer than the parent."""
    _bound_to(parent)
    try:
        base = os.getpriority(os.PRIO_PROCESS, parent)
    except (OSError, AttributeError):
        return
    _renice_all(min(19, base + LOOP_ENCODE_NICENESS))


def nicest(parent: int) -> None:
    """In a worker: every thread as nice as can be (19): it gets a core's time when no other
    work wants it, and a small share (about 1.5 % of a nice-0 thread's) when some does, so
    it is never starved outright (SCHED_IDLE would starve it on a busy machine:
    docs/benchmarks.md, "Stop 19")."""
    _bound_to(parent)
    _renice_all(BACKGROUND_NICENESS)


class LoopEncoders:
    """A process pool of loop encodes, started when first used, its workers at the priority
    `initializer` gives them."""

    def __init__(self, name: str, initializer: Callable[[int], None],
                 workers: int = LOOP_ENCODE_WORKERS) -> None:
        self.name = name
        self.initializer = initializer
        self.workers = workers
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._in_process = False  # processes could not be started: encode on threads
        self.pools_started = 0

    def _current(self) -> concurrent.futures.ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = concurrent.futures.ProcessPoolExecutor(
                    max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                    initializer=self.initializer, initargs=(os.getpid(),))
                self.pools_started += 1
            return self._pool

    def _replace(self, broken: concurrent.futures.ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is broken:
                self._pool = None
        broken.shutdown(wait=False, cancel_futures=True)

    async def encode(self, draw_and_encode: Callable[..., T], *args: object) -> T:
        """draw_and_encode(*args) in a worker process (a module-level function, its
        arguments picklable). An error of the encode itself is raised as it is."""
        loop = asyncio.get_running_loop()
        for attempt in range(2):
            if self._in_process:
                break
            pool = self._current()
            try:
                # starts a worker if none is idle
                future = pool.submit(_encode_then_trim, draw_and_encode, *args)
            except BrokenProcessPool:
                self._died(pool, attempt)
                continue
            except OSError as error:  # PermissionError included: no process can start
                log.warning("cannot start %s loop encoder processes (%s): loops are encoded "
                            "on this process's threads", self.name, error)
                self._in_process = True
                self._replace(pool)
                break
            try:
                return await asyncio.wrap_future(future, loop=loop)
            except BrokenProcessPool:
                self._died(pool, attempt)
        return await loop.run_in_executor(None, draw_and_encode, *args)

    def _died(self, pool: concurrent.futures.ProcessPoolExecutor, attempt: int) -> None:
        log.warning("a %s loop encoder process died; starting new ones%s", self.name,
                    "" if attempt == 0 else " (and encoding on a thread this time)")
        self._replace(pool)

    def start(self) -> None:
        """Start the workers now, unless started already (spawning one costs about a second
        of a core, at the parent's priority until the worker lowers its own)."""
        if self._pool is not None or self._in_process:
            return
        pool = self._current()
        try:
            for _ in range(self.workers):
                pool.submit(os.getpid)  # a process is spawned per task while none is idle
        except (BrokenProcessPool, OSError):
            pass  # the next encode replaces the pool or encodes here, and says so

    def pids(self) -> list[int]:
        """The worker processes running now (for tests and benchmarks)."""
        pool = self._pool
        processes = getattr(pool, "_processes", None) or {}
        return sorted(processes)

    def shutdown(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


# Every WebRTC terminal of the process (LoopCache) encodes its loops in these: the loops
# a call waits for (its first: nothing to send yet) a little nicer than the process, those
# it goes on sending meanwhile (a send ladder ask, a still picture after a move) only on
# cores nothing else wants.
WAITED_LOOP_ENCODERS = LoopEncoders("waited", nicer)
BACKGROUND_LOOP_ENCODERS = LoopEncoders("background", nicest)
