"""RFC 4733 telephone events (DTMF): the 4-byte event payload, and the receive side's
de-duplication (an event's packets share its timestamp; the end packet is sent three times)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

EVENTS = "0123456789*#ABCD"


class DtmfError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    event: int
    end: bool
    volume: int
    duration: int

    @property
    def digit(self) -> str | None:
        return EVENTS[self.event] if self.event < len(EVENTS) else None

    @classmethod
    def parse(cls, payload: bytes) -> TelephoneEvent:
        if len(payload) < 4:
            raise DtmfError("telephone-event payload shorter than 4 bytes")
        event, flags, duration = struct.unpack("!BBH", payload[:4])
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration)

    def __bytes__(self) -> bytes:
        return struct.pack("!BBH", self.event, (0x80 if self.end else 0) | self.volume,
                           self.duration)


def event_of(digit: str) -> int:
    if len(digit) != 1 or digit.upper() not in EVENTS:
        raise DtmfError(f"{digit!r} is not a DTMF digit (0-9 * # A-D)")
    return EVENTS.index(digit.upper())


class DigitReceiver:
    """Hands each event up once: on its first packet (a new timestamp)."""

    def __init__(self) -> None:
        self._last_timestamp: int | None = None

    def receive(self, timestamp: int, payload: bytes) -> str | None:
        event = TelephoneEvent.parse(payload)
        if timestamp == self._last_timestamp:
            return None
        self._last_timestamp = timestamp
        return event.digit
