"""app/loop_profile: the profile of one thread on its CPU time, written however the run ends."""

from __future__ import annotations

import pstats
import time
from pathlib import Path

import pytest

from app.loop_profile import run_profiled


def _busy(seconds: float) -> int:
    end, count = time.thread_time() + seconds, 0
    while time.thread_time() < end:
        count += 1
    return count


def _asleep(seconds: float) -> None:
    time.sleep(seconds)


def _both() -> str:
    _busy(0.05)
    _asleep(0.3)
    return "done"


def _cumulative(stats: pstats.Stats, name: str) -> float:
    entries = [entry for key, entry in stats.stats.items()  # type: ignore[attr-defined]
               if key[2] == name]
    assert entries, f"{name} not in the profile"
    return float(entries[0][3])


def test_the_profile_charges_cpu_time_not_time_asleep(tmp_path: Path) -> None:
    path = tmp_path / "loop.prof"
    assert run_profiled(_both, str(path)) == "done"
    stats = pstats.Stats(str(path))
    assert _cumulative(stats, "_busy") >= 0.04  # 50 ms of CPU, measured on the CPU clock
    # 300 ms asleep: a wall-clock profile would charge them, the thread's CPU clock does not
    assert _cumulative(stats, "_asleep") < 0.05
    assert _cumulative(stats, "_both") < 0.2


def test_a_run_that_raises_still_writes_its_profile(tmp_path: Path) -> None:
    path = tmp_path / "raised.prof"

    def fail() -> None:
        _busy(0.01)
        raise RuntimeError("ended")

    with pytest.raises(RuntimeError, match="ended"):
        run_profiled(fail, str(path))
    assert _cumulative(pstats.Stats(str(path)), "_busy") > 0


def test_without_a_path_nothing_is_profiled(tmp_path: Path) -> None:
    assert run_profiled(lambda: 7, None) == 7
    assert run_profiled(lambda: 8, "") == 8
    assert list(tmp_path.iterdir()) == []


def test_a_profile_that_cannot_be_written_leaves_the_run_alone(tmp_path: Path, capsys) -> None:
    path = tmp_path / "no such directory" / "loop.prof"
    assert run_profiled(lambda: 9, str(path)) == 9
    assert "profile not written" in capsys.readouterr().err
    with pytest.raises(RuntimeError, match="its own"):
        run_profiled(lambda: (_ for _ in ()).throw(RuntimeError("its own")), str(path))
