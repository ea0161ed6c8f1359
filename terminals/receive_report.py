"""A terminal's receive report (the signalling's `stats`, docs/signalling.md "Receive
statistics"): what it decoded since its last report and how late, per stream.

`StreamMeter` turns a stream's running frame count and its recent latencies (the receivers'
marker readings, terminals/receiver.py and terminals/content_receiver.py) into one
`StreamReceipt`: frames a second over the interval since the previous reading, and the
median and 95th percentile of the latencies in ms (nearest-rank), None when none were read.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rtc.signalling import StreamReceipt

LATENCY_MS_MAX = 60_000.0  # the schema's bound (rtc/signalling.py LATENCY_MS)
FPS_MAX = 240.0


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of a non-empty sequence (fraction in 0..1]."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def latency_ms(latencies_s: Sequence[float]) -> tuple[float | None, float | None]:
    """(p50, p95) in ms, rounded to 0.1 ms and clamped to the schema's range; (None, None)
    without a reading."""
    if not latencies_s:
        return None, None
    p50, p95 = (min(LATENCY_MS_MAX, max(0.0, round(1000 * percentile(latencies_s, q), 1)))
                for q in (0.5, 0.95))
    return p50, p95


class StreamMeter:
    """The frame rate of one stream between two readings of its running count."""

    def __init__(self) -> None:
        self._last: tuple[float, int] | None = None  # (time, count) of the previous reading

    def reset(self) -> None:
        self._last = None

    def receipt(self, now: float, frames: int, latencies_s: Sequence[float]
                ) -> StreamReceipt | None:
        """The stream over the time since the previous reading; None at the first reading
        (no interval yet), or when the count went backwards (a new call's receiver)."""
        last, self._last = self._last, (now, frames)
        if last is None or frames < last[1] or now <= last[0]:
            return None
        fps = min(FPS_MAX, round((frames - last[1]) / (now - last[0]), 2))
        p50, p95 = latency_ms(latencies_s)
        return StreamReceipt(fps, p50, p95)
