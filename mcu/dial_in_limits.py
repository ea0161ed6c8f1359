"""The limits of failed dial-in attempts (`join`), per signalling socket, per terminal URI
and per access code (docs/security.md, "Dial-in attempts").

What counts as a failure of a `join`, and against which keys:
    unknown access code                          socket, URI
    site not booked in the conference            socket, URI
    wrong password                               socket, URI, access code
An attempt is refused with `locked` while any of its three keys is locked or waiting out its
growing delay (mcu/attempt_limits.py), whatever its password, so the right password is
refused too while locked. A join that gets past the password clears its socket's and URI's
counts; an access code's count only expires (a booked site that knows the password must not
wipe what others guessed against it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from mcu.attempt_limits import AttemptLimits, AttemptPolicy
from mcu.clock import Clock

SOCKET = "socket"
URI = "uri"
ACCESS_CODE = "access_code"


@dataclass(frozen=True)
class DialInLimitSettings:
    lock_attempts: int = 10  # failures per socket and per URI that lock it
    code_lock_attempts: int = 20  # wrong passwords per access code that lock it
    lock_minutes: float = 15.0
    delay_after: int = 3  # failures after which each next attempt waits
    delay_seconds: float = 1.0  # first delay, doubling with each further failure
    max_delay_seconds: float = 30.0


def dial_in_limits(clock: Clock, settings: DialInLimitSettings) -> AttemptLimits:
    lock = timedelta(minutes=settings.lock_minutes)
    delay = timedelta(seconds=settings.delay_seconds)
    max_delay = timedelta(seconds=settings.max_delay_seconds)

    def policy(limit: int) -> AttemptPolicy:
        return AttemptPolicy(limit, lock, settings.delay_after, delay, max_delay)

    return AttemptLimits(
        clock,
        {
            SOCKET: policy(settings.lock_attempts),
            URI: policy(settings.lock_attempts),
            ACCESS_CODE: policy(settings.code_lock_attempts),
        },
    )
