"""The longest wait between packets of a stream, period by period: how smoothly the MCU's
audio mix reaches a terminal, read where the packets arrive (before any jitter buffer, whose
own holding back after a loss is the terminal's, not the MCU's). `benchmarks/media_load.py`
reads it once per snapshot: its measuring window is one period."""

from __future__ import annotations

import time


class ArrivalGaps:
    """`arrived()` per packet; `read()` gives the longest wait of the period since the
    previous read (or since this was made) and starts a new one. A wait that began before
    the period counts from the period's start; the wait from the last packet to the read is
    a wait too, so a stream that stopped is not read as smooth."""

    def __init__(self, now: float | None = None) -> None:
        self._period_start = time.monotonic() if now is None else now
        self._last: float | None = None
        self._longest = 0.0

    def arrived(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        waited = now - self._waiting_since()
        if waited > self._longest:
            self._longest = waited
        self._last = now

    def read(self, now: float | None = None) -> float:
        """The longest wait of the period, in seconds (the whole period when nothing
        arrived in it); a new period starts now."""
        now = time.monotonic() if now is None else now
        longest = max(self._longest, now - self._waiting_since())
        self._period_start, self._longest = now, 0.0
        return longest

    def _waiting_since(self) -> float:
        last = self._last
        return self._period_start if last is None or last < self._period_start else last
