"""Time sources. Everything time-dependent takes a Clock so tests run in simulated time.

A Clock answers two questions: the wall-clock time (`now`, for bookings, sessions, the
schedule) and a monotonic reading in seconds (`monotonic`, for durations such as the
voice-switching hold). ManualClock moves both only when told to.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a scale that never goes back; only differences mean something."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock that only moves when told to (tests, simulations). Its monotonic reading
    follows every move forward of the wall time; a move back leaves it where it is."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        self._monotonic = 0.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, delta: timedelta) -> datetime:
        self._move_to(self._now + delta)
        return self._now

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._move_to(when)

    def _move_to(self, when: datetime) -> None:
        self._monotonic += max(0.0, (when - self._now).total_seconds())
        self._now = when
