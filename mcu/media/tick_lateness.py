"""How late the media ticks start: a fixed-bucket histogram as plain data (no metrics
library in mcu/), observed by ConferenceMedia._run_ticks and exposed by gateway/metrics.py."""

from __future__ import annotations

import bisect

# upper bounds in seconds: a 30 fps video tick lasts 33 ms, an audio step 20 ms
BOUNDS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)


class TickLateness:
    def __init__(self, bounds: tuple[float, ...] = BOUNDS) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last: over every bound
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self.counts[bisect.bisect_left(self.bounds, seconds)] += 1
        self.sum += seconds

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative_buckets(self) -> list[tuple[str, float]]:
        """(le, observations at or under it) per bound, then ("+Inf", all): Prometheus's form."""
        buckets: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip(self.bounds, self.counts, strict=False):
            running += count
            buckets.append((repr(bound), running))
        buckets.append(("+Inf", running + self.counts[-1]))
        return buckets
