"""glibc's malloc_trim, for the processes that return their freed C heap to the system: the
MCU after calls end (mcu/media/heap_trim.py) and the terminals' loop encoder workers after
each loop (terminals/loop_encoders.py). The MCU and the terminals share it from here, as
they share the rest of rtc/."""

from __future__ import annotations

import ctypes
from collections.abc import Callable


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
