"""app/child_process.dies_with_parent: a child started with it ends when its parent is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app import child_process
from app.child_process import dies_with_parent
from tests.process_state import running

PARENT = """
import subprocess, sys
from app.child_process import dies_with_parent
wrap = sys.argv[1] == "1"
command = [sys.executable, "-c", "import time; time.sleep(120)"]
child = subprocess.Popen(dies_with_parent(command) if wrap else command)
print(child.pid, flush=True)
child.wait()
"""


def _child_of_killed_parent(wrap: bool) -> int:
    parent = subprocess.Popen([sys.executable, "-c", PARENT, "1" if wrap else "0"],
                              stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    # setpriv sets the signal and then execs the program: wait for the program (a parent
    # killed in between those instants is a race no real caller runs)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child_pid}/cmdline").read_bytes().split(b"\0")[0] != \
            sys.executable.encode():
        assert time.monotonic() < deadline, "the child never started its program"
        time.sleep(0.02)
    assert running(child_pid)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    return child_pid


@pytest.mark.skipif(child_process.SETPRIV is None, reason="Linux with util-linux's setpriv")
def test_the_child_ends_with_its_killed_parent() -> None:
    child_pid = _child_of_killed_parent(wrap=True)
    deadline = time.monotonic() + 10
    while running(child_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(child_pid)


@pytest.mark.skipif(child_process.SETPRIV is None, reason="Linux with util-linux's setpriv")
def test_without_it_the_child_outlives_its_killed_parent() -> None:
    """What the wrapper is for (and that the test above is not passing by accident)."""
    child_pid = _child_of_killed_parent(wrap=False)
    try:
        time.sleep(1)
        assert running(child_pid)
    finally:
        os.kill(child_pid, signal.SIGKILL)


def test_the_command_runs_unchanged_through_setpriv() -> None:
    """The wrapped command is the same program, with its arguments and exit status."""
    result = subprocess.run(dies_with_parent([sys.executable, "-c",
                                              "import sys; print(sys.argv[1:]); sys.exit(3)",
                                              "a b", "--c"]),
                            capture_output=True, text=True)
    assert result.returncode == 3
    assert result.stdout.strip() == "['a b', '--c']"


def test_without_setpriv_the_command_is_returned_as_it_is(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(child_process, "SETPRIV", None)
    assert dies_with_parent(["redis-server", "--port", "1"]) == ["redis-server", "--port", "1"]
