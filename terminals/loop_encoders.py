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
process has cores), each started with "spawn" (never fork: a forked copy of a process with
threads may inherit a held lock) the first time it is needed, and kept for the process's
life. Every thread of a worker (x264's, OpenCV's) has the worker's priority, and its GIL is
its own:

- `WAITED_LOOP_ENCODERS`: the loops a call waits for (its first: nothing to send yet),
  LOOP_ENCODE_NICENESS nicer than the parent, as the threads were;
- `BACKGROUND_LOOP_ENCODERS`: the loops a terminal goes on sending its current loop
  meanwhile (a send ladder ask, a still picture after a move), on Linux's SCHED_IDLE: they
  run only on a core that nothing else wants, so they never take a core from real-time
  work (the MCU's, the terminals' sending). On a busy machine the ask is honoured later.

A terminal starts both pools when it starts (SimulatedTerminal.start, before its first loop),
so that their workers' own start does not fall in the middle of a call.

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
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool

from terminals.media_sources import EncodedLoop

log = logging.getLogger(__name__)

LOOP_ENCODE_NICENESS = 10
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 2


LOOP_ENCODE_WORKERS = cores()


def _bound_to(parent: int) -> None:
    """In a worker: end with the process that started it, and leave Ctrl-C to it.

    The pool's queues keep a pipe's both ends open in the worker, so a worker whose parent
    was killed would never read an end of file: on Linux the kernel kills it with its parent
    (PR_SET_PDEATHSIG; Linux ties it to the thread that started the worker: the event
    loop's); and a worker whose parent is gone already ends at once. SIGINT (a terminal's
    Ctrl-C reaches the whole process group) is ignored: the parent shuts the pool down."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # no prctl here: the worker outlives a killed parent, as any pool's would
    if os.getppid() != parent:
        os._exit(0)


def nicer(parent: int) -> None:
    """In a worker: the whole process LOOP_ENCODE_NICENESS nicer than it started."""
    _bound_to(parent)
    try:
        os.setpriority(os.PRIO_PROCESS, 0,
                       min(19, os.getpriority(os.PRIO_PROCESS, 0) + LOOP_ENCODE_NICENESS))
    except (OSError, AttributeError):
        pass  # not allowed here (or not POSIX): the loops are encoded at the parent's priority


def idle(parent: int) -> None:
    """In a worker: the whole process on Linux's SCHED_IDLE (it runs only on a core nothing
    else wants), else as nice as can be."""
    _bound_to(parent)
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (OSError, AttributeError):  # not Linux, or refused
        try:
            os.setpriority(os.PRIO_PROCESS, 0, 19)
        except (OSError, AttributeError):
            pass


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

    async def encode(self, draw_and_encode: Callable[..., EncodedLoop],
                     *args: object) -> EncodedLoop:
        """draw_and_encode(*args) in a worker process (a module-level function, its
        arguments picklable)."""
        loop = asyncio.get_running_loop()
        for attempt in range(2):
            if self._in_process:
                break
            pool = self._current()
            try:
                return await loop.run_in_executor(pool, draw_and_encode, *args)
            except BrokenProcessPool:
                log.warning("a %s loop encoder process died; starting new ones%s", self.name,
                            "" if attempt == 0 else " (and encoding here this time)")
                self._replace(pool)
            except (PermissionError, OSError) as error:
                log.warning("cannot start loop encoder processes (%s): loops are encoded "
                            "on this process's threads", error)
                self._in_process = True
                self._replace(pool)
        return await loop.run_in_executor(None, draw_and_encode, *args)

    def start(self) -> None:
        """Start the workers now, unless started already (spawning one costs about a second
        of a core, at the parent's priority until the worker lowers its own)."""
        if self._pool is not None or self._in_process:
            return
        pool = self._current()
        try:
            for _ in range(self.workers):
                pool.submit(os.getpid)  # a process is spawned per task while none is idle
        except (BrokenProcessPool, PermissionError, OSError):
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
BACKGROUND_LOOP_ENCODERS = LoopEncoders("background", idle)
