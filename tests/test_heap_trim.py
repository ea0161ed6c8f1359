"""A call's memory goes back to the system after it ends (mcu/media/heap_trim.py): once the
teardown has settled, its cyclic garbage is collected and the C heap trimmed, at most once
per interval however many calls end, the trim off the event loop; tests/test_call_churn.py checks it
with real terminals."""

from __future__ import annotations

import asyncio
import threading

from mcu.media.heap_trim import HeapTrimmer
from rtc.malloc_trim import glibc_malloc_trim


class FakeTrim:
    def __init__(self) -> None:
        self.calls: list[int] = []
        self.threads: list[str] = []

    def __call__(self, pad: int) -> int:
        self.calls.append(pad)
        self.threads.append(threading.current_thread().name)
        return 1


async def wait_for(predicate, seconds: float = 3.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_calls_ending_together_are_trimmed_once_after_they_settle():
    trim = FakeTrim()
    trimmer = HeapTrimmer(trim, settle_s=0.2, min_interval_s=0.5, collect=lambda: 0)
    for _ in range(5):
        trimmer.call_ended()
    await asyncio.sleep(0.1)
    assert trim.calls == []  # the teardown settles first
    await wait_for(lambda: trim.calls)
    await asyncio.sleep(0.3)
    assert trim.calls == [0]  # one trim for the five calls, malloc_trim(0): every arena
    assert trim.threads[0] != threading.current_thread().name  # not on the loop's thread
    assert (trimmer.stats.trims, trimmer.stats.released, trimmer.stats.collections) == (1, 1, 1)
    await trimmer.close()


async def test_a_call_ending_soon_after_a_trim_waits_for_the_interval():
    trim = FakeTrim()
    loop = asyncio.get_running_loop()
    trimmer = HeapTrimmer(trim, settle_s=0.05, min_interval_s=0.6, collect=lambda: 0)
    trimmer.call_ended()
    await wait_for(lambda: len(trim.calls) == 1)
    first = loop.time()
    trimmer.call_ended()
    await wait_for(lambda: len(trim.calls) == 2)
    assert loop.time() - first >= 0.5  # not before the interval since the first trim
    await trimmer.close()


async def test_closing_cancels_a_trim_not_yet_due():
    trim = FakeTrim()
    trimmer = HeapTrimmer(trim, settle_s=0.2, collect=lambda: 0)
    trimmer.call_ended()
    await trimmer.close()
    await asyncio.sleep(0.3)
    assert trim.calls == []


async def test_without_malloc_trim_the_garbage_is_still_collected():
    collections: list[int] = []
    trimmer = HeapTrimmer(None, settle_s=0.05, collect=lambda: collections.append(1) or 7)
    trimmer.call_ended()
    assert not trimmer.available
    await wait_for(lambda: collections)
    await asyncio.sleep(0.2)
    assert (trimmer.stats.collections, trimmer.stats.collected, trimmer.stats.trims) == (1, 7, 0)
    await trimmer.close()


def test_this_process_has_glibcs_malloc_trim():
    trim = glibc_malloc_trim()  # the MCU runs on glibc (Debian/Ubuntu images, CI)
    assert trim is not None
    assert trim(0) in (0, 1)
