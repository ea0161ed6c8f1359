"""Failed-attempt limits: a growing delay, then a lock, per key of each declared scope.

One AttemptLimits holds a table of scopes (e.g. "user", "unknown_name_from" for the SOAP
login; "socket", "uri", "access_code" for the dial-in), each with its AttemptPolicy. An attempt names a
key in one or more scopes; it is refused while any of those keys is locked or waiting out
its delay. Failures are counted per key; a key whose last failure is older than its
policy's `lock` starts again from zero (the count forgets, the table stays bounded).

    policy: limit=10, delay_after=3, delay=1 s, max_delay=30 s, lock=15 min
    failures 1..2   the next attempt may come at once
    failure 3       the next attempt waits 1 s; after the 4th 2 s, 4 s ... (at most max_delay)
    failure 10      locked for 15 min from that failure

Used by gateway/sessions.py (login lockout) and mcu/media/webrtc_endpoint.py (dial-in);
docs/security.md gives the values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mcu.clock import Clock

_SWEEP_EVERY = 256


@dataclass(frozen=True)
class AttemptPolicy:
    limit: int  # failures that lock the key
    lock: timedelta  # how long the lock lasts (and how long failures are remembered)
    delay_after: int | None = None  # failures after which attempts wait (None: never)
    delay: timedelta = timedelta(0)  # the first delay; it doubles with each failure after
    max_delay: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError("an attempt limit must be at least 1")
        if self.lock <= timedelta(0):
            raise ValueError("a lock must last a positive time")
        if self.delay_after is not None and self.delay_after < 0:
            raise ValueError("delay_after must not be negative")

    def wait_after(self, failures: int) -> timedelta:
        """How long the next attempt must wait after this many failures (lock excluded)."""
        if self.delay_after is None or failures < self.delay_after or not self.delay:
            return timedelta(0)
        grown = self.delay * (2 ** min(failures - self.delay_after, 32))
        return min(grown, self.max_delay) if self.max_delay else grown


@dataclass
class _Record:
    failures: int = 0
    last_failure: datetime | None = None
    locked_until: datetime | None = None


@dataclass(frozen=True)
class Refusal:
    """Why an attempt is refused: the scope and key that blocks it, until when, and whether
    it is a lock (True) or only the growing delay (False)."""

    scope: str
    key: str
    until: datetime
    locked: bool


@dataclass
class AttemptLimits:
    clock: Clock
    policies: Mapping[str, AttemptPolicy]
    _records: dict[tuple[str, str], _Record] = field(default_factory=dict)
    _calls: int = 0

    def refusal(self, keys: Mapping[str, str]) -> Refusal | None:
        """The first reason (in the order of `keys`) to refuse an attempt now, or None."""
        now = self.clock.now()
        for scope, key in keys.items():
            record = self._current(scope, key, now)
            if record is None:
                continue
            if record.locked_until is not None:
                return Refusal(scope, key, record.locked_until, True)
            assert record.last_failure is not None
            until = record.last_failure + self.policies[scope].wait_after(record.failures)
            if now < until:
                return Refusal(scope, key, until, False)
        return None

    def failed(self, keys: Mapping[str, str]) -> bool:
        """Count a failure against each key; True when one of them is now locked."""
        now = self.clock.now()
        self._maybe_sweep(now)
        locked = False
        for scope, key in keys.items():
            policy = self.policies[scope]
            record = self._current(scope, key, now) or self._records.setdefault(
                (scope, key), _Record()
            )
            record.failures += 1
            record.last_failure = now
            if record.failures >= policy.limit:
                record.locked_until = now + policy.lock
                locked = True
        return locked

    def succeeded(self, keys: Mapping[str, str]) -> None:
        """A successful attempt clears the counts of these keys."""
        for scope, key in keys.items():
            self._records.pop((scope, key), None)

    def __len__(self) -> int:
        return len(self._records)

    # --- internals ------------------------------------------------------------------

    def _current(self, scope: str, key: str, now: datetime) -> _Record | None:
        """The key's record, or None once its lock ended or its failures are forgotten."""
        record = self._records.get((scope, key))
        if record is None:
            return None
        if self._expired(scope, record, now):
            del self._records[(scope, key)]
            return None
        return record

    def _expired(self, scope: str, record: _Record, now: datetime) -> bool:
        if record.locked_until is not None:
            return now >= record.locked_until
        assert record.last_failure is not None
        return now - record.last_failure >= self.policies[scope].lock

    def _maybe_sweep(self, now: datetime) -> None:
        self._calls += 1
        if self._calls < _SWEEP_EVERY:
            return
        self._calls = 0
        dead = [k for k, record in self._records.items() if self._expired(k[0], record, now)]
        for k in dead:
            del self._records[k]
