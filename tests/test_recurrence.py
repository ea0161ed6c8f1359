"""Recurrence expansion: month ends, DST, count against endDate, weekly and monthly rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from mcu.errors import DomainError, Fault
from mcu.model import Frequency, RecurrenceRule
from mcu.recurrence import MAX_OCCURRENCES, expand, resolve_zone

SHANGHAI = timezone(timedelta(hours=8))
NEW_YORK = ZoneInfo("America/New_York")


def dates(begins: list[datetime]) -> list[date]:
    return [begin.date() for begin in begins]


def test_daily_with_interval_matches_the_esdk_example() -> None:
    # scheduleRecurrenceConferenceEx example: daily, interval 2, count 5 from 21 July 2014.
    first = datetime(2014, 7, 21, 9, 44, 30, tzinfo=SHANGHAI)
    begins = expand(RecurrenceRule(Frequency.DAILY, interval=2, count=5), first)
    assert [b.day for b in begins] == [21, 23, 25, 27, 29]
    assert all(b.time().isoformat() == "09:44:30" for b in begins)
    assert all(b.utcoffset() == timedelta(hours=8) for b in begins)


def test_monthly_31st_falls_back_to_the_last_day_of_short_months() -> None:
    first = datetime(2026, 1, 31, 10, 0, tzinfo=SHANGHAI)
    rule = RecurrenceRule(Frequency.MONTHLY, month_day=31, count=5)
    assert dates(expand(rule, first)) == [
        date(2026, 1, 31),
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 30),
        date(2026, 5, 31),
    ]


def test_monthly_29th_in_a_leap_february() -> None:
    first = datetime(2028, 1, 29, 10, 0, tzinfo=SHANGHAI)
    rule = RecurrenceRule(Frequency.MONTHLY, month_day=30, count=3)
    assert dates(expand(rule, first)) == [date(2028, 1, 30), date(2028, 2, 29), date(2028, 3, 30)]


def test_monthly_month_day_later_than_the_first_begin_starts_that_month() -> None:
    first = datetime(2026, 1, 10, 10, 0, tzinfo=SHANGHAI)
    rule = RecurrenceRule(Frequency.MONTHLY, month_day=15, count=2)
    assert dates(expand(rule, first)) == [date(2026, 1, 15), date(2026, 2, 15)]


def test_new_york_keeps_wall_clock_across_dst_while_shanghai_has_none() -> None:
    first_ny = datetime(2026, 3, 5, 9, 0, tzinfo=NEW_YORK)  # EST, -05:00
    weekly = RecurrenceRule(
        Frequency.WEEKLY, week_days=[4], count=2, time_zone="America/New_York"
    )  # Thursdays, across the 8 March 2026 change
    ny = expand(weekly, first_ny)
    assert [b.astimezone(NEW_YORK).hour for b in ny] == [9, 9]
    assert [b.astimezone(UTC).hour for b in ny] == [14, 13]

    first_sh = datetime(2026, 3, 5, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    sh = expand(replace_zone(weekly, "Asia/Shanghai"), first_sh)
    assert [b.astimezone(UTC).hour for b in sh] == [1, 1]


def test_new_york_autumn_change_moves_utc_time_back() -> None:
    first = datetime(2026, 10, 30, 9, 0, tzinfo=NEW_YORK)  # EDT; DST ends 1 November 2026
    begins = expand(RecurrenceRule(Frequency.DAILY, count=4, time_zone="America/New_York"), first)
    assert [b.astimezone(UTC).hour for b in begins] == [
        13,
        13,
        14,
        14,
    ]  # 1 November 09:00 is already EST
    assert all(b.astimezone(NEW_YORK).hour == 9 for b in begins)


def test_without_a_zone_the_offset_of_the_begin_is_kept() -> None:
    first = datetime(2026, 3, 5, 14, 0, tzinfo=UTC)  # 09:00 in New York before the change
    begins = expand(RecurrenceRule(Frequency.WEEKLY, week_days=[4], count=2), first)
    assert [b.astimezone(UTC).hour for b in begins] == [14, 14]


def test_time_zone_given_as_an_offset_string() -> None:
    first = datetime(2026, 1, 5, 1, 30, tzinfo=UTC)  # 09:30 at +08:00
    for name in ("+08:00", "GMT+08:00", "UTC+8"):
        begins = expand(RecurrenceRule(Frequency.DAILY, count=2, time_zone=name), first)
        assert [b.utcoffset() for b in begins] == [timedelta(hours=8)] * 2
        assert begins[0].hour == 9 and begins[0].minute == 30


def test_a_non_existent_wall_clock_time_uses_the_offset_before_the_change() -> None:
    first = datetime(2026, 3, 7, 2, 30, tzinfo=NEW_YORK)
    begins = expand(RecurrenceRule(Frequency.DAILY, count=2, time_zone="America/New_York"), first)
    # 8 March 02:30 does not exist in New York; read with -05:00 it is 07:30 UTC.
    assert begins[1].astimezone(UTC) == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)


def test_count_wins_when_it_is_smaller_than_end_date() -> None:
    first = datetime(2026, 1, 5, 9, 0, tzinfo=SHANGHAI)
    rule = RecurrenceRule(Frequency.DAILY, count=3, end_date=datetime(2026, 1, 31, tzinfo=SHANGHAI))
    assert dates(expand(rule, first)) == [date(2026, 1, 5), date(2026, 1, 6), date(2026, 1, 7)]


def test_end_date_wins_when_it_is_smaller_than_count_and_is_inclusive() -> None:
    first = datetime(2026, 1, 5, 9, 0, tzinfo=SHANGHAI)
    rule = RecurrenceRule(
        Frequency.DAILY, count=30, end_date=datetime(2026, 1, 8, 0, 0, tzinfo=SHANGHAI)
    )
    assert dates(expand(rule, first))[-1] == date(2026, 1, 8)
    assert len(expand(rule, first)) == 4


def test_end_date_alone_bounds_the_series() -> None:
    first = datetime(2026, 1, 5, 9, 0, tzinfo=SHANGHAI)
    rule = RecurrenceRule(
        Frequency.WEEKLY, week_days=[1], end_date=datetime(2026, 2, 2, tzinfo=SHANGHAI)
    )
    assert dates(expand(rule, first)) == [
        date(2026, 1, 5),
        date(2026, 1, 12),
        date(2026, 1, 19),
        date(2026, 1, 26),
        date(2026, 2, 2),
    ]


def test_weekly_with_several_week_days() -> None:
    first = datetime(2026, 1, 7, 9, 0, tzinfo=SHANGHAI)  # a Wednesday
    rule = RecurrenceRule(Frequency.WEEKLY, week_days=[1, 3, 5], count=5)
    # Monday 5 January is before the first begin, so the series starts on Wednesday 7.
    assert dates(expand(rule, first)) == [
        date(2026, 1, 7),
        date(2026, 1, 9),
        date(2026, 1, 12),
        date(2026, 1, 14),
        date(2026, 1, 16),
    ]


def test_weekly_with_interval_two_skips_every_other_week() -> None:
    first = datetime(2026, 1, 4, 9, 0, tzinfo=SHANGHAI)  # a Sunday
    rule = RecurrenceRule(Frequency.WEEKLY, interval=2, week_days=[0, 6], count=4)
    assert dates(expand(rule, first)) == [
        date(2026, 1, 4),
        date(2026, 1, 10),
        date(2026, 1, 18),
        date(2026, 1, 24),
    ]


def test_weekly_without_week_days_uses_the_weekday_of_the_begin() -> None:
    first = datetime(2026, 1, 7, 9, 0, tzinfo=SHANGHAI)  # a Wednesday
    rule = RecurrenceRule(Frequency.WEEKLY, week_day=1, count=3)
    assert dates(expand(rule, first)) == [date(2026, 1, 7), date(2026, 1, 14), date(2026, 1, 21)]


def test_monthly_nth_weekday() -> None:
    first = datetime(2026, 1, 1, 9, 0, tzinfo=SHANGHAI)
    rule = RecurrenceRule(Frequency.MONTHLY, week_day=2, week_days=[2], count=3)  # 2nd Tuesday
    assert dates(expand(rule, first)) == [date(2026, 1, 13), date(2026, 2, 10), date(2026, 3, 10)]


@pytest.mark.parametrize("last", [5, -1])
def test_monthly_last_weekday(last: int) -> None:
    first = datetime(2026, 1, 1, 9, 0, tzinfo=SHANGHAI)
    rule = RecurrenceRule(Frequency.MONTHLY, week_day=last, week_days=[5], count=3)  # last Friday
    assert dates(expand(rule, first)) == [date(2026, 1, 30), date(2026, 2, 27), date(2026, 3, 27)]


def test_monthly_with_interval_three() -> None:
    first = datetime(2026, 11, 20, 9, 0, tzinfo=SHANGHAI)
    rule = RecurrenceRule(Frequency.MONTHLY, interval=3, month_day=20, count=3)
    assert dates(expand(rule, first)) == [date(2026, 11, 20), date(2027, 2, 20), date(2027, 5, 20)]


@pytest.mark.parametrize(
    "rule",
    [
        RecurrenceRule(Frequency.DAILY, interval=0, count=3),
        RecurrenceRule(Frequency.DAILY, interval=-1, count=3),
        RecurrenceRule(Frequency.WEEKLY, count=3),
        RecurrenceRule(Frequency.MONTHLY, count=3),
        RecurrenceRule(Frequency.DAILY),
        RecurrenceRule(Frequency.DAILY, count=MAX_OCCURRENCES + 1),
        RecurrenceRule(Frequency.WEEKLY, week_days=[7], count=3),
        RecurrenceRule(Frequency.MONTHLY, month_day=32, count=3),
        RecurrenceRule(Frequency.MONTHLY, week_day=6, week_days=[1], count=3),
        RecurrenceRule(Frequency.DAILY, count=3, time_zone="Mars/Olympus_Mons"),
        RecurrenceRule(Frequency.DAILY, end_date=datetime(2025, 1, 1, tzinfo=UTC)),
        RecurrenceRule(Frequency.DAILY, end_date=datetime(2030, 1, 1, tzinfo=UTC)),
    ],
    ids=[
        "interval0",
        "interval-1",
        "weekly-nothing",
        "monthly-nothing",
        "unbounded",
        "count-over-cap",
        "weekday-7",
        "monthday-32",
        "weekday-6",
        "unknown-zone",
        "end-before-begin",
        "end-date-over-cap",
    ],
)
def test_bad_rules_are_refused(rule: RecurrenceRule) -> None:
    with pytest.raises(DomainError) as refused:
        expand(rule, datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    assert refused.value.fault is Fault.BAD_RECURRENCE


def test_resolve_zone_defaults_to_the_offset_of_the_begin() -> None:
    zone = resolve_zone(None, datetime(2026, 1, 5, 9, 0, tzinfo=SHANGHAI))
    assert zone.utcoffset(None) == timedelta(hours=8)


def replace_zone(rule: RecurrenceRule, name: str) -> RecurrenceRule:
    return RecurrenceRule(
        rule.frequency,
        rule.interval,
        list(rule.week_days),
        rule.week_day,
        rule.month_day,
        rule.count,
        rule.end_date,
        name,
    )


def test_monthly_week_days_without_week_day_means_the_first_one() -> None:
    first = datetime(2026, 1, 1, 9, 0, tzinfo=SHANGHAI)
    rule = RecurrenceRule(Frequency.MONTHLY, week_days=[1], count=2)  # first Monday
    assert dates(expand(rule, first)) == [date(2026, 1, 5), date(2026, 2, 2)]
