"""What every request passes before its service (`check_request`): string members trimmed
(but wire.KEEPS_SPACES), every string, binary value and list held to the input limits
(OUT_OF_RANGE, nothing done), and dateTime values read by `wire_datetime` (an unreadable one
is an UnreadableValue, a Client fault naming the member). Part of the wire <-> domain
conversion (gateway/convert.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from gateway import wire
from mcu.errors import DomainError, Fault

# --- every request: trimmed strings, bounded lengths, readable dates -------------------------


def check_request(request: Any, members: Iterable[str]) -> None:
    """Trim and bound every value of a parsed request (`members`: its top-level member
    names), in place, at every depth (module doc). Refused: DomainError OUT_OF_RANGE naming
    the member and its limit; the request is then not run, so nothing changes."""
    for member in members:
        value = getattr(request, member, None)
        setattr(request, member, _checked(value, member, member))


def _checked(value: Any, member: str, path: str) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        if member not in wire.KEEPS_SPACES:
            value = value.strip()
        limit = wire.MAX_CHARS.get(member, wire.DEFAULT_MAX_CHARS)
        if len(value) > limit:
            raise DomainError(
                Fault.OUT_OF_RANGE, f"{path}: {len(value)} characters, at most {limit}"
            )
        return value
    if isinstance(value, bytes | bytearray):
        limit = wire.MAX_BYTES.get(member, wire.DEFAULT_MAX_BYTES)
        if len(value) > limit:
            raise DomainError(Fault.OUT_OF_RANGE, f"{path}: {len(value)} bytes, at most {limit}")
        return value
    if isinstance(value, list | tuple):
        if value and all(isinstance(item, bytes | bytearray) for item in value):
            # a binary member: spyne hands its decoded bytes over in chunks
            _checked(b"".join(value), member, path)
            return value
        limit = wire.MAX_ITEMS.get(member, wire.DEFAULT_MAX_ITEMS)
        if len(value) > limit:
            raise DomainError(Fault.OUT_OF_RANGE, f"{path}: {len(value)} entries, at most {limit}")
        return [_checked(item, member, f"{path}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, wire.WireType):
        kind = type(value)
        for name in kind.get_flat_type_info(kind):
            inner = getattr(value, name, None)
            if inner is not None:
                setattr(value, name, _checked(inner, name, f"{path}.{name}"))
    return value


class UnreadableValue(ValueError):
    """A request value that is not of its member's type; the SOAP layer answers a Client
    fault naming the member (gateway/soap.py)."""


# xs:dateTime as WS/T 546 4.3.1 writes it: yyyy-MM-ddTHH:mm:ss[.fraction][Z|+hh:mm|-hh:mm];
# a time without an offset is read here and refused by `require_aware` with a code
_DATETIME = re.compile(
    r"(?P<year>-?\d{4,9})-(?P<month>\d{2})-(?P<day>\d{2})"
    r"T(?P<hour>\d{2}):(?P<minute>\d{2}):(?P<second>\d{2})(?:\.(?P<fraction>\d+))?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?"
)
DATETIME_EXPECTED = (
    "expected an xs:dateTime such as 2013-05-07T22:46:31.235+08:00 or 2013-05-07T14:46:31Z, "
    "from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z in UTC"
)


def _shown(value: str | None) -> str:
    """A refused value as a fault quotes it: at most 40 characters."""
    value = value or ""
    return repr(value if len(value) <= 40 else value[:40] + "...")


def wire_datetime(value: str | None) -> datetime | None:
    """A request's dateTime text -> datetime. Leading and trailing white space is dropped
    (xs:dateTime collapses it), and a text of spaces only reads as absent, as an empty
    element does; more than 6 fraction digits are cut to microseconds. An
    instant whose UTC time falls before year 1 or after year 9999 (e.g.
    9999-12-31T23:59:59-01:00) is refused like an unreadable text: the platform cannot
    represent it, so it is not a value of the type it accepts."""
    text_ = (value or "").strip()
    if not text_:
        return None  # as an empty element: the member is absent (spyne reads "" so)
    match = _DATETIME.fullmatch(text_)
    if match is None:
        raise UnreadableValue(f"{_shown(value)} is not a date and time; {DATETIME_EXPECTED}")
    parts = match.groupdict()
    year = int(parts["year"])
    if not 1 <= year <= 9999:
        raise UnreadableValue(f"{_shown(value)}: year {year} is out of range; {DATETIME_EXPECTED}")
    zone = parts["zone"]
    tzinfo = None
    if zone == "Z":
        tzinfo = UTC
    elif zone is not None:
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        if hours > 14 or minutes > 59 or (hours == 14 and minutes):
            raise UnreadableValue(f"{_shown(value)}: offset {zone} is out of range (-14:00..+14:00)")
        sign = -1 if zone[0] == "-" else 1
        tzinfo = timezone(sign * timedelta(hours=hours, minutes=minutes))
    fraction = (parts["fraction"] or "")[:6].ljust(6, "0")
    try:
        moment = datetime(
            year, int(parts["month"]), int(parts["day"]), int(parts["hour"]),
            int(parts["minute"]), int(parts["second"]), int(fraction), tzinfo=tzinfo,
        )
    except ValueError as error:  # month 13, February 30th, hour 25 ...
        raise UnreadableValue(f"{_shown(value)}: {error}; {DATETIME_EXPECTED}") from None
    if tzinfo is not None:
        try:
            moment.astimezone(UTC)
        except OverflowError:
            raise UnreadableValue(
                f"{_shown(value)} is outside years 1-9999 in UTC; {DATETIME_EXPECTED}"
            ) from None
    return moment
