"""A test-only control of `mcu-sim node`: hold its event loop busy on a signal.

The liveness of a node must not depend on its media loop being on time (mcu/nodes/
heartbeat.py). To prove it from the outside, a test starts a node with the environment
variable MCU_SIM_DEBUG_STALL_S set to a number of seconds and sends it SIGUSR1: the node's
event loop then runs a CPU-bound Python loop for that long (the GIL taken and given back as
any busy Python code does, nothing else of the loop runs: no command, no call, no media), and
logs "debug: event loop held busy for N s" when it lets go. SIGSTOP cannot stand in for it:
it stops every thread, the heartbeat's too.

Without the variable (any deployment) nothing is installed and SIGUSR1 keeps its default.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time

log = logging.getLogger("app.node")

STALL_VARIABLE = "MCU_SIM_DEBUG_STALL_S"
MAX_STALL_S = 600.0


def stall_seconds() -> float | None:
    """The stall the environment asks for; None when not asked (or not a number in
    0..MAX_STALL_S, which is logged)."""
    text = os.environ.get(STALL_VARIABLE)
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= MAX_STALL_S:
        log.error("%s=%r ignored: not a number of seconds in (0, %.0f]", STALL_VARIABLE,
                  text[:40], MAX_STALL_S)
        return None
    return seconds


def hold_busy(seconds: float) -> float:
    """Run Python on this thread for `seconds` (the caller's loop does nothing else)."""
    started = time.monotonic()
    spins = 0
    while time.monotonic() - started < seconds:
        spins += 1
    held = time.monotonic() - started
    log.warning("debug: event loop held busy for %.1f s (%d spins)", held, spins)
    return held


def install_stall_control(loop: asyncio.AbstractEventLoop) -> bool:
    """SIGUSR1 holds the loop busy for MCU_SIM_DEBUG_STALL_S seconds, when that is set."""
    seconds = stall_seconds()
    if seconds is None:
        return False
    loop.add_signal_handler(signal.SIGUSR1, hold_busy, seconds)
    log.warning("debug: SIGUSR1 holds this node's event loop busy for %.1f s (%s)", seconds,
                STALL_VARIABLE)
    return True
