"""terminals/frame_counter.FrameCountingQueue.largest_gap: the longest wait between frames
arriving over a window, a stall at its end included (media_load's audio target)."""

from __future__ import annotations

from terminals.frame_counter import FrameCountingQueue


def _arrived(*times: float) -> FrameCountingQueue:
    counter = FrameCountingQueue(decode=False)
    for index, at in enumerate(times):
        counter.arrivals.append((at, 960 * index))
    return counter


def test_the_longest_wait_between_frames_since_a_moment() -> None:
    counter = _arrived(10.00, 10.02, 10.04, 10.19, 10.21, 10.23)
    assert abs(counter.largest_gap(10.0, now=10.24) - 0.15) < 1e-9
    # frames before `since` do not count: the 150 ms wait began before it
    assert abs(counter.largest_gap(10.1, now=10.24) - 0.02) < 1e-9


def test_a_stall_at_the_end_counts_and_nothing_since_is_none() -> None:
    counter = _arrived(10.00, 10.02, 10.04)
    assert abs(counter.largest_gap(10.0, now=10.54) - 0.5) < 1e-9
    assert counter.largest_gap(10.05, now=10.54) is None
    assert FrameCountingQueue(decode=False).largest_gap(0.0) is None
