"""The timing loop the per-frame benchmarks share (benchmarks/codec_costs.py,
benchmarks/cascade_link.py): the CPU time of this process (all its threads, not wall time,
so a busy machine slows a run but moves its figures less) spent running a step over a run
of frames."""

from __future__ import annotations

import time
from collections.abc import Callable


def cpu_seconds(count: int, step: Callable[[int], object]) -> float:
    """CPU seconds of this process spent running `step(n)` for n in 0 .. count-1."""
    started = time.process_time()
    for n in range(count):
        step(n)
    return time.process_time() - started


def cpu_ms(count: int, step: Callable[[int], object]) -> float:
    """CPU milliseconds per step of `cpu_seconds(count, step)`."""
    return cpu_seconds(count, step) * 1000 / count
