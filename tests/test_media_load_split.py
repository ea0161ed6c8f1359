"""benchmarks/media_load: the MCU's CPU by thread (its event loop read from /proc apart from
the process) and `mcu_split`, which sets each beside the part of the codec floor it runs."""

from __future__ import annotations

import os
import threading
import time

import pytest

from benchmarks.media_load import mcu_split, process_cpu_seconds, thread_cpu_seconds

# benchmarks/codec_floor.FloorResult's fields as media_load reads them (one 4-site conference)
FLOOR = {
    "floor_cpu_pct": 21.31,
    "decode_cpu_pct": 5.43,
    "encode_cpu_pct": 13.61,
    "video_floor_cpu_pct": 19.04,
    "audio_decode_cpu_pct": 0.6,
    "audio_encode_cpu_pct": 1.67,
    "compositor_cpu_pct": 1.24,
}


def test_a_thread_cpu_time_is_that_thread_s_own() -> None:
    """A thread that burns 0.3 s of CPU reads about 0.3 s more from its own stat file while
    the main thread, waiting for it, reads (almost) nothing more; the process reads both."""
    pid = os.getpid()
    native: list[int] = []
    ready, go, burnt, release = (threading.Event() for _ in range(4))

    def burn() -> None:
        native.append(threading.get_native_id())
        ready.set()
        go.wait()
        start = time.thread_time()
        while time.thread_time() - start < 0.3:
            pass
        burnt.set()
        release.wait()  # alive (its stat file there) until the main thread has read it

    worker = threading.Thread(target=burn, daemon=True)
    worker.start()
    try:
        ready.wait()
        tid = native[0]
        before_worker = thread_cpu_seconds(pid, tid)
        before_main = thread_cpu_seconds(pid, pid)
        before_process = process_cpu_seconds(pid)
        go.set()
        burnt.wait()
        after_worker = thread_cpu_seconds(pid, tid)
        after_main = thread_cpu_seconds(pid, pid)
        after_process = process_cpu_seconds(pid)
    finally:
        go.set()
        release.set()  # a failed read must not leave the thread waiting
        worker.join()
    burned = after_worker - before_worker
    assert burned == pytest.approx(0.3, abs=0.05)  # the kernel counts in 10 ms ticks
    assert after_main - before_main < burned / 2
    assert after_process - before_process >= burned - 0.02


def test_the_split_sets_each_thread_beside_its_part_of_the_floor() -> None:
    split = mcu_split(38.3, 15.5, FLOOR)
    assert split["loop_pct"] == 15.5
    assert split["loop_floor_pct"] == pytest.approx(2.27)  # the Opus decodes and encodes
    assert split["loop_over_pct"] == pytest.approx(13.2)
    assert split["threads_pct"] == pytest.approx(22.8)
    assert split["threads_floor_pct"] == pytest.approx(20.28)  # video + the compositor
    assert split["threads_over_pct"] == pytest.approx(2.5)
    # the other threads plus a loop at its Opus alone: (22.8 + 2.27) / 21.31
    assert split["mcu_to_floor_loop_at_codecs"] == pytest.approx(1.18)


def test_without_a_floor_the_bound_is_not_divided_by_zero() -> None:
    empty = dict(FLOOR, floor_cpu_pct=0.0)
    assert mcu_split(10.0, 4.0, empty)["mcu_to_floor_loop_at_codecs"] == 0.0
