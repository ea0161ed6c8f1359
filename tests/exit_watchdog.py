"""The test process must exit once the session has ended; if it does not, say why.

After the last test and the summary, Python still waits, at exit, for every non-daemon
thread and for every work item of a thread pool (the default executor of each event loop a
test ran, `asyncio.to_thread`) to finish. A thread left blocked by a test (a call without a
timeout to a peer that never answers, a pipe nobody closes) then keeps the process alive
after "N passed" is printed, with no word of which thread, until the CI's own time limit
kills it: a clean-clone CI run ended that way once (2,977 passed, then nothing).

So when the session ends (pytest_sessionfinish, before the summary), a daemon thread starts
a grace period of EXIT_GRACE_S (120 s). If the process is still alive at its end, the
watchdog prints the Python stack of every thread
(faulthandler: the one left waiting, and where) to the real stderr and ends the process
with the session's own exit status: the tests' verdict stands, and the thread that held the
exit is in the log for whoever mends it.
"""

from __future__ import annotations

import faulthandler
import os
import sys
import threading
import time

import pytest

# the grace period; MCU_TEST_EXIT_GRACE_S changes it (tests/test_exit_watchdog.py: 2 s)
EXIT_GRACE_S = float(os.environ.get("MCU_TEST_EXIT_GRACE_S", "120"))

_exit_status = {"status": 0}


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Started here, not at unconfigure: a plugin whose unconfigure hangs is covered too."""
    _exit_status["status"] = int(exitstatus)
    threading.Thread(target=_watch, args=(EXIT_GRACE_S,), name="exit watchdog",
                     daemon=True).start()


def _watch(grace_s: float) -> None:
    time.sleep(grace_s)
    stream = sys.__stderr__
    if stream is None:  # no stderr at all: nothing to report to, only the exit to make
        os._exit(_exit_status["status"])
    names = sorted(thread.name for thread in threading.enumerate()
                   if thread is not threading.current_thread())
    print(f"\nexit watchdog: the test process was still alive {grace_s:.0f} s after the "
          f"session ended, waiting for a thread to finish (threads: {', '.join(names)}). "
          "The stack of every thread follows; the exit status is the session's.",
          file=stream, flush=True)
    faulthandler.dump_traceback(file=stream, all_threads=True)
    stream.flush()
    os._exit(_exit_status["status"])
