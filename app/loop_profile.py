"""cProfile of one thread's CPU time, for benchmarks: the MCU's event loop (`MCU_SIM_PROFILE`,
app/serve_command.py) and a media_load terminals child's (`MEDIA_LOAD_TERMINALS_PROFILE`).

cProfile sees only the thread that enabled it; render, encoder and decoder threads are not
in it. Its clock here is that thread's CPU time (`time.thread_time`), not the wall clock:
on 2 shared cores a wall-clock profile charges each function the time its thread waited
for a core or for the GIL (docs/benchmarks.md, "Stop 18"). Read the file with
`python -m pstats FILE`.
"""

from __future__ import annotations

import cProfile
import sys
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def run_profiled(run: Callable[[], T], path: str | None) -> T:
    """`run()`; with `path`, profiled on this thread's CPU time and the statistics written
    to `path` when it returns or raises (the profile so far); a path that cannot be
    written is said on stderr and changes nothing else."""
    if not path:
        return run()
    profiler = cProfile.Profile(time.thread_time)  # this thread's CPU time, in seconds
    profiler.enable()
    try:
        return run()
    finally:
        profiler.disable()
        try:
            profiler.dump_stats(path)
        except OSError as error:  # the run's own outcome stands; the profile is lost
            print(f"profile not written to {path}: {error}", file=sys.stderr)
