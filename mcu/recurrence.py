"""Expanding a recurrence rule (RecurrenceConfInfoEx) into occurrence begin times.

A pure function of the rule and the first begin time. Decisions where WS/T 546 is silent:

- Occurrences fall on the dates the rule selects on or after the local date of the first
  begin, at the first begin's local wall-clock time in the rule's time zone. So a 09:00
  America/New_York series stays at 09:00 local across DST changes (its UTC time moves).
  A wall-clock time that does not exist on a spring-forward day is read with the offset in
  force before the change (zoneinfo's fold=0), i.e. 02:30 becomes 03:30 daylight time.
- The first begin need not match the rule: a monthly rule on the 15th begun on the 10th
  starts on the 15th.
- Weekly: weeks run Sunday..Saturday (weekDays 0=Sunday..6=Saturday); with interval n the
  series uses every n-th week counted from the week of the first begin. With no weekDays
  the weekday of the first begin is used, but only when the client filled weekDay or
  monthDay (the standard asks for at least one of the three; all empty is refused).
- Monthly: monthDay (1..31) wins over weekDay; a month too short for monthDay uses its last
  day (the 31st becomes 28/29 February, 30 April). weekDay n (1..4) with weekDays selects
  the n-th such weekday of the month; weekDay 5 or -1 selects the last one. weekDay without
  weekDays uses the weekday of the first begin; weekDays without weekDay (0) means the first
  such weekday. Every interval-th month from the first.
- endDate is inclusive by local date in the rule's zone. With both count and endDate the
  series stops at whichever limit comes first (the smaller set wins).
- Neither count nor endDate is refused (BAD_RECURRENCE), and so is a series of more than
  MAX_OCCURRENCES occurrences or one with no occurrence at all.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mcu.errors import DomainError, Fault
from mcu.model import Frequency, RecurrenceRule

MAX_OCCURRENCES = 366
LAST_WEEK = (5, -1)

_OFFSET = re.compile(r"^(?:GMT|UTC)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)


def resolve_zone(name: str | None, first_begin: datetime) -> tzinfo:
    """The zone a series keeps its wall-clock time in: an IANA name, a "+08:00" /
    "GMT+08:00" offset, or (no name) the fixed offset of the first begin."""
    if first_begin.tzinfo is None or first_begin.utcoffset() is None:
        raise DomainError(Fault.BAD_TIME, "begin time needs a UTC offset")
    if not name:
        return timezone(first_begin.utcoffset())  # type: ignore[arg-type]
    stripped = name.strip()
    if stripped.upper() in ("UTC", "GMT", "Z"):
        return UTC
    match = _OFFSET.match(stripped)
    if match:
        sign, hours, minutes = match.group(1), int(match.group(2)), int(match.group(3) or 0)
        if hours > 14 or minutes > 59:
            raise DomainError(Fault.BAD_RECURRENCE, f"time zone offset out of range: {name}")
        offset = timedelta(hours=hours, minutes=minutes)
        return timezone(-offset if sign == "-" else offset)
    try:
        return ZoneInfo(stripped)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise DomainError(Fault.BAD_RECURRENCE, f"unknown time zone: {name}") from exc


def validate_rule(rule: RecurrenceRule) -> None:
    """Refuse a rule that cannot describe a series, before any expansion."""
    if not isinstance(rule.frequency, Frequency):
        try:
            Frequency(rule.frequency)
        except ValueError as exc:
            raise DomainError(Fault.BAD_RECURRENCE, f"frequency {rule.frequency}") from exc
    if rule.interval <= 0:
        raise DomainError(Fault.BAD_RECURRENCE, "interval must be greater than 0")
    if rule.count < 0:
        raise DomainError(Fault.BAD_RECURRENCE, "count must not be negative")
    if rule.count == 0 and rule.end_date is None:
        raise DomainError(Fault.BAD_RECURRENCE, "neither count nor endDate given")
    if rule.count > MAX_OCCURRENCES:
        raise DomainError(Fault.BAD_RECURRENCE, f"more than {MAX_OCCURRENCES} occurrences")
    if any(not 0 <= day <= 6 for day in rule.week_days):
        raise DomainError(Fault.BAD_RECURRENCE, "weekDays must be 0 (Sunday)..6 (Saturday)")
    if not 0 <= rule.month_day <= 31:
        raise DomainError(Fault.BAD_RECURRENCE, "monthDay must be 1..31")
    if rule.week_day not in (0, 1, 2, 3, 4, 5, -1):
        raise DomainError(Fault.BAD_RECURRENCE, "weekDay must be 1..5 or -1 (last)")
    frequency = Frequency(rule.frequency)
    nothing_given = not rule.week_days and rule.week_day == 0 and rule.month_day == 0
    if frequency in (Frequency.WEEKLY, Frequency.MONTHLY) and nothing_given:
        raise DomainError(Fault.BAD_RECURRENCE, "none of weekDays, weekDay, monthDay given")


def expand(rule: RecurrenceRule, first_begin: datetime) -> list[datetime]:
    """The begin times of every occurrence of the series, in order, aware in the rule's zone."""
    validate_rule(rule)
    zone = resolve_zone(rule.time_zone, first_begin)
    local_begin = first_begin.astimezone(zone)
    wall_clock = local_begin.time().replace(tzinfo=None)
    last_date = _end_date_in(zone, rule.end_date)
    begins: list[datetime] = []
    for day in _bounded(_dates(rule, local_begin.date())):
        if last_date is not None and day > last_date:
            break
        begins.append(_at_wall_clock(day, wall_clock, zone))
        if rule.count and len(begins) == rule.count:
            break
        if len(begins) > MAX_OCCURRENCES:
            raise DomainError(Fault.BAD_RECURRENCE, f"more than {MAX_OCCURRENCES} occurrences")
    if not begins:
        raise DomainError(Fault.BAD_RECURRENCE, "the rule yields no occurrence")
    return begins


def _bounded(dates: Iterator[date]) -> Iterator[date]:
    """`dates`, refusing a series whose next date would fall after the year 9999 (a huge
    interval) rather than failing with the calendar's own error."""
    while True:
        try:
            yield next(dates)
        except StopIteration:
            return
        except (OverflowError, ValueError):
            raise DomainError(Fault.BAD_RECURRENCE, "the series runs past the year 9999") from None


def _end_date_in(zone: tzinfo, end_date: datetime | None) -> date | None:
    if end_date is None:
        return None
    if end_date.tzinfo is None:
        return end_date.date()
    return end_date.astimezone(zone).date()


def _at_wall_clock(day: date, wall_clock: time, zone: tzinfo) -> datetime:
    return datetime.combine(day, wall_clock, tzinfo=zone)


def _dates(rule: RecurrenceRule, start: date) -> Iterator[date]:
    frequency = Frequency(rule.frequency)
    if frequency is Frequency.DAILY:
        return _daily(start, rule.interval)
    if frequency is Frequency.WEEKLY:
        return _weekly(start, rule.interval, rule.week_days)
    return _monthly(start, rule)


def _daily(start: date, interval: int) -> Iterator[date]:
    day = start
    while True:
        yield day
        day += timedelta(days=interval)


def _sunday_index(day: date) -> int:
    """0=Sunday..6=Saturday, the standard's weekday numbering."""
    return (day.weekday() + 1) % 7


def _weekly(start: date, interval: int, week_days: list[int]) -> Iterator[date]:
    days = sorted(set(week_days)) or [_sunday_index(start)]
    week_start = start - timedelta(days=_sunday_index(start))
    while True:
        for offset in days:
            day = week_start + timedelta(days=offset)
            if day >= start:
                yield day
        week_start += timedelta(weeks=interval)


def _monthly(start: date, rule: RecurrenceRule) -> Iterator[date]:
    year, month = start.year, start.month
    while True:
        for day in _days_in_month(year, month, rule, start):
            if day >= start:
                yield day
        month += rule.interval
        year += (month - 1) // 12
        month = (month - 1) % 12 + 1


def _days_in_month(year: int, month: int, rule: RecurrenceRule, start: date) -> list[date]:
    month_length = calendar.monthrange(year, month)[1]
    if rule.month_day:
        return [date(year, month, min(rule.month_day, month_length))]
    weekdays = sorted(set(rule.week_days)) or [_sunday_index(start)]
    week = rule.week_day or 1
    return sorted(_nth_weekday(year, month, weekday, week) for weekday in weekdays)


def _nth_weekday(year: int, month: int, weekday: int, week: int) -> date:
    """The week-th given weekday (0=Sunday) of the month; week 5 or -1 is the last one."""
    month_length = calendar.monthrange(year, month)[1]
    if week in LAST_WEEK:
        last = date(year, month, month_length)
        return last - timedelta(days=(_sunday_index(last) - weekday) % 7)
    first = date(year, month, 1)
    first_match = first + timedelta(days=(weekday - _sunday_index(first)) % 7)
    return first_match + timedelta(weeks=week - 1)
