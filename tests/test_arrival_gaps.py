"""terminals/arrival_gaps.ArrivalGaps: the longest wait between packets, period by period
(media_load's audio target, read at each snapshot)."""

from __future__ import annotations

import pytest

from terminals.arrival_gaps import ArrivalGaps


def _arrived(gaps: ArrivalGaps, *times: float) -> None:
    for at in times:
        gaps.arrived(at)


def test_the_longest_wait_of_the_period_and_a_new_period_after_a_read() -> None:
    gaps = ArrivalGaps(now=10.0)
    _arrived(gaps, 10.00, 10.02, 10.04, 10.19, 10.21, 10.23)
    assert gaps.read(now=10.24) == pytest.approx(0.15)
    _arrived(gaps, 10.26, 10.28)
    assert gaps.read(now=10.29) == pytest.approx(0.02)  # the 150 ms was the last period's


def test_a_wait_across_the_periods_start_counts_from_it_and_a_stall_to_the_read() -> None:
    gaps = ArrivalGaps(now=10.0)
    _arrived(gaps, 10.00, 10.02)
    assert gaps.read(now=10.10) == pytest.approx(0.08)  # from the last packet to the read
    _arrived(gaps, 10.32, 10.34)  # the 300 ms wait: 220 ms of it in this period
    assert gaps.read(now=10.35) == pytest.approx(0.22)
    assert gaps.read(now=10.85) == pytest.approx(0.5)  # nothing came: the whole period
