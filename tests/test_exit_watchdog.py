"""tests/exit_watchdog.py, from the outside: a pytest run whose test leaves a non-daemon
thread blocked for good still ends, after the grace period, with the session's own exit
status, and its stderr names the blocked thread and where it waits."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LEAKY_TEST = textwrap.dedent('''
    import threading

    def wait_for_ever(event):
        event.wait()  # nobody sets it

    def test_leaves_a_thread_behind():
        threading.Thread(target=wait_for_ever, args=(threading.Event(),),
                         name="left behind").start()
''')


def run_child(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_child.py").write_text(body)
    env = dict(os.environ, MCU_TEST_EXIT_GRACE_S="2", PYTHONPATH=str(ROOT))
    env.pop("PYTEST_ADDOPTS", None)  # the child runs only the plugin under test, not ours
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.exit_watchdog", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), str(tmp_path / "test_child.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_a_blocked_thread_is_named_and_the_session_verdict_kept(tmp_path: Path) -> None:
    run = run_child(tmp_path, LEAKY_TEST)
    assert "1 passed" in run.stdout, run.stdout + run.stderr
    assert run.returncode == 0, run.stderr
    assert "exit watchdog: the test process was still alive 2 s after" in run.stderr
    assert "left behind" in run.stderr  # the thread's name
    assert "wait_for_ever" in run.stderr  # and the function it is blocked in


def test_a_failed_session_keeps_its_status(tmp_path: Path) -> None:
    run = run_child(tmp_path, LEAKY_TEST + "\n\ndef test_fails():\n    assert False\n")
    assert "1 failed, 1 passed" in run.stdout, run.stdout + run.stderr
    assert run.returncode == 1
    assert "exit watchdog" in run.stderr


def test_a_clean_session_exits_at_once_without_a_report(tmp_path: Path) -> None:
    run = run_child(tmp_path, "def test_nothing_left():\n    assert 1 + 1 == 2\n")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "exit watchdog" not in run.stderr
