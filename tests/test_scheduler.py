"""The scheduler in simulated time: booking rules, lifecycle, recurrence edits, free/busy."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from mcu.clock import ManualClock
from mcu.errors import DomainError, Fault
from mcu.model import (
    ConferenceSpec,
    ConferenceState,
    DirectorySite,
    FreeBusy,
    Frequency,
    RecurrenceRule,
    SiteSpec,
    VideoFormat,
)
from mcu.port_costs import DEFAULT_PORT_COSTS, PortCosts
from mcu.scheduler import Scheduler, SchedulerSettings
from mcu.store_api import SchedulerStore
from tests.conftest import open_test_store

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
CST = timezone(timedelta(hours=8))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def store(store_url: str, tmp_path: Path) -> Iterator[SchedulerStore]:
    """Every test here runs on both stores: SQLite (in memory) and PostgreSQL."""
    store = open_test_store(store_url, Path(":memory:"))
    yield store
    store.close()


@pytest.fixture
def scheduler(store: SchedulerStore, clock: ManualClock) -> Scheduler:
    return Scheduler(store, clock)


def spec(
    name: str = "consult",
    begin: datetime = START + HOUR,
    duration: timedelta = HOUR,
    uris: tuple[str, ...] = ("01010086", "01010010"),
    **fields,
) -> ConferenceSpec:
    sites = [SiteSpec(uri=uri, name=f"site {uri}") for uri in uris]
    return ConferenceSpec(name=name, begin=begin, duration=duration, sites=sites, **fields)


def refused(fault: Fault, call, *args, **kwargs) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call(*args, **kwargs)
    assert caught.value.fault is fault, caught.value
    return caught.value


# -- booking ------------------------------------------------------------------------------


def test_schedule_allocates_ids_access_codes_and_passwords(scheduler: Scheduler) -> None:
    first = scheduler.schedule(spec(uris=("a",)))
    second = scheduler.schedule(spec(uris=("b",)))
    assert first.conf_id.isdigit() and second.conf_id.isdigit()
    assert first.conf_id != second.conf_id
    assert first.access_code.isdigit() and len(first.access_code) == 8
    assert first.access_code != second.access_code
    assert len(first.password) == 6 and first.password.isdigit()
    assert len(first.chairman_password) == 6 and first.chairman_password.isdigit()
    assert [o.begin for o in first.occurrences] == [START + HOUR]
    assert scheduler.get(first.conf_id) is first
    assert [c.conf_id for c in scheduler.conferences()] == [first.conf_id, second.conf_id]


def test_given_passwords_and_access_code_are_kept(scheduler: Scheduler) -> None:
    conference = scheduler.schedule(
        spec(password="123456", chairman_password="654321", access_code="01014477")
    )
    assert (conference.password, conference.chairman_password) == ("123456", "654321")
    assert conference.access_code == "01014477"


def test_sub_second_begin_is_dropped(scheduler: Scheduler) -> None:
    begin = datetime(2026, 1, 5, 10, 9, 0, 954000, tzinfo=CST) + timedelta(days=1)
    conference = scheduler.schedule(spec(begin=begin))
    assert conference.occurrences[0].begin.microsecond == 0


@pytest.mark.parametrize(
    ("fields", "fault"),
    [
        ({"password": "12345"}, Fault.BAD_PASSWORD),
        ({"password": "12345a"}, Fault.BAD_PASSWORD),
        ({"chairman_password": "1234567"}, Fault.BAD_PASSWORD),
        ({"cp_resource": 11}, Fault.BAD_CP_RESOURCE),
        ({"duration": timedelta(0)}, Fault.BAD_TIME),
        ({"duration": -HOUR}, Fault.BAD_TIME),
        ({"begin": datetime(2026, 1, 5, 10, 0)}, Fault.BAD_TIME),
        ({"name": " "}, Fault.MISSING_PARAMETER),
        ({"uris": ("a", "a")}, Fault.SITE_ALREADY_IN_CONFERENCE),
        ({"uris": ("",)}, Fault.MISSING_PARAMETER),
        ({"access_code": "12ab"}, Fault.OUT_OF_RANGE),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    scheduler: Scheduler, fields: dict, fault: Fault
) -> None:
    before = scheduler.revision()
    refused(fault, scheduler.schedule, spec(**fields))
    assert scheduler.revision() == before
    assert scheduler.conferences() == []


def test_access_codes_are_unique_among_live_conferences(
    scheduler: Scheduler, clock: ManualClock
) -> None:
    scheduler.schedule(spec(uris=("a",), access_code="5555"))
    refused(
        Fault.ACCESS_CODE_CONFLICT,
        scheduler.schedule,
        spec(uris=("b",), access_code="5555"),
    )
    clock.advance(3 * HOUR)  # the first has ended: its code is free again
    reused = scheduler.schedule(spec(begin=clock.now() + HOUR, uris=("b",), access_code="5555"))
    assert reused.access_code == "5555"


# -- lifecycle ----------------------------------------------------------------------------


def test_lifecycle_follows_the_clock(scheduler: Scheduler, clock: ManualClock) -> None:
    conference = scheduler.schedule(spec())
    assert scheduler.state(conference.conf_id)[0] is ConferenceState.SCHEDULED
    assert scheduler.ongoing() == []
    clock.advance(HOUR)
    assert scheduler.state(conference.conf_id)[0] is ConferenceState.ONGOING
    assert [c.conf_id for c, _ in scheduler.ongoing()] == [conference.conf_id]
    clock.advance(HOUR)
    state, occurrence = scheduler.state(conference.conf_id)
    assert state is ConferenceState.ENDED
    assert occurrence.end == START + 2 * HOUR


def test_prolong_moves_the_end(scheduler: Scheduler, clock: ManualClock) -> None:
    conference = scheduler.schedule(spec())
    clock.advance(HOUR + timedelta(minutes=50))
    prolonged = scheduler.prolong(conference.conf_id, timedelta(minutes=30))
    assert prolonged.occurrences[0].end == START + 2 * HOUR + timedelta(minutes=30)
    clock.advance(timedelta(minutes=20))
    assert scheduler.state(conference.conf_id)[0] is ConferenceState.ONGOING
    clock.advance(timedelta(minutes=20))
    assert scheduler.state(conference.conf_id)[0] is ConferenceState.ENDED
    refused(Fault.CONFERENCE_ENDED, scheduler.prolong, conference.conf_id, HOUR)


def test_prolong_into_another_booking_of_a_site_is_refused(scheduler: Scheduler) -> None:
    first = scheduler.schedule(spec(uris=("a", "b")))
    scheduler.schedule(spec(begin=START + 2 * HOUR, uris=("b", "c")))  # back to back: allowed
    before = scheduler.revision()
    refused(Fault.SITE_BUSY, scheduler.prolong, first.conf_id, timedelta(minutes=1))
    refused(Fault.BAD_TIME, scheduler.prolong, first.conf_id, timedelta(0))
    assert scheduler.revision() == before
    assert scheduler.get(first.conf_id).occurrences[0].duration == HOUR


def test_unknown_conference(scheduler: Scheduler) -> None:
    for call in (scheduler.get, scheduler.state, scheduler.delete):
        refused(Fault.CONFERENCE_NOT_FOUND, call, "424242")
    refused(Fault.CONFERENCE_NOT_FOUND, scheduler.edit, "424242", spec())
    refused(Fault.CONFERENCE_NOT_FOUND, scheduler.prolong, "424242", HOUR)


# -- conflicts and capacity ---------------------------------------------------------------


def test_a_site_cannot_be_booked_twice(scheduler: Scheduler) -> None:
    scheduler.schedule(spec(uris=("a", "b")))
    refused(
        Fault.SITE_BUSY,
        scheduler.schedule,
        spec(begin=START + HOUR + timedelta(minutes=30), uris=("c", "b")),
    )
    other = scheduler.schedule(spec(begin=START + HOUR + timedelta(minutes=30), uris=("c",)))
    refused(Fault.SITE_BUSY, scheduler.add_site, other.conf_id, SiteSpec("a"))
    moved = spec(begin=START + HOUR + timedelta(minutes=30), uris=("c", "a"))
    refused(Fault.SITE_BUSY, scheduler.edit, other.conf_id, moved)
    assert [s.uri for s in scheduler.get(other.conf_id).occurrences[0].sites] == ["c"]


def test_a_site_of_a_deleted_conference_is_free_again(scheduler: Scheduler) -> None:
    first = scheduler.schedule(spec(uris=("a",)))
    scheduler.delete(first.conf_id)
    refused(Fault.CONFERENCE_NOT_FOUND, scheduler.get, first.conf_id)
    assert scheduler.schedule(spec(uris=("a",))).conf_id != first.conf_id


def test_port_capacity_is_the_peak_of_concurrent_use(store: SchedulerStore, clock: ManualClock) -> None:
    scheduler = Scheduler(store, clock, SchedulerSettings(max_ports=4, max_cp_resources=64))
    scheduler.schedule(spec(begin=START + HOUR, duration=HOUR, uris=("a", "b")))
    scheduler.schedule(spec(begin=START + 2 * HOUR, duration=HOUR, uris=("c", "d")))
    # Overlaps both, but they never run together: the peak is 4 ports.
    long = scheduler.schedule(spec(begin=START + HOUR, duration=2 * HOUR, uris=("e", "f")))
    refused(
        Fault.CAPACITY_EXCEEDED,
        scheduler.schedule,
        spec(begin=START + HOUR, duration=HOUR, uris=("g",)),
    )
    refused(Fault.CAPACITY_EXCEEDED, scheduler.add_site, long.conf_id, SiteSpec("g"))
    refused(
        Fault.CAPACITY_EXCEEDED,
        scheduler.schedule,
        spec(begin=START + 5 * HOUR, uris=("1", "2", "3", "4", "5")),
    )


def test_ports_cost_by_format_and_the_defaults_keep_what_fitted_before(
    store: SchedulerStore, clock: ManualClock
) -> None:
    """Default costs (mcu/port_costs.py): max_ports counts ports of the costliest format,
    which a site booked without a format takes; cheaper formats take less of the pool."""
    scheduler = Scheduler(store, clock, SchedulerSettings(max_ports=4, max_cp_resources=64))

    def sites(prefix: str, video_format: VideoFormat | None, count: int) -> list[SiteSpec]:
        return [SiteSpec(f"{prefix}{n}", video_format=video_format) for n in range(count)]

    # as before per-format costs: 4 sites of any format fit, a fifth without a format not
    mixed = sites("m", VideoFormat.HD1080P60, 2) + sites("n", None, 1) + sites(
        "o", VideoFormat.CIF4, 1)
    four = scheduler.schedule(replace(spec(begin=START + HOUR), sites=mixed))
    refused(Fault.CAPACITY_EXCEEDED, scheduler.add_site, four.conf_id, SiteSpec("x"))
    # the pool is 4 x 16 units; 32 4CIF sites (2 each) fill it alone, a 33rd does not fit
    sd = replace(spec(begin=START + 5 * HOUR), sites=sites("s", VideoFormat.CIF4, 32))
    error = refused(Fault.CAPACITY_EXCEEDED, scheduler.schedule,
                    replace(sd, sites=sites("s", VideoFormat.CIF4, 33)))
    assert "33 x 4CIF at 2" in error.detail
    scheduler.schedule(sd)
    # overlapping it, not even one CIF site (1 unit) is left
    refused(Fault.CAPACITY_EXCEEDED, scheduler.schedule,
            replace(spec(begin=START + 5 * HOUR), sites=sites("c", VideoFormat.CIF, 1)))


def test_port_costs_price_every_format_but_auto() -> None:
    with pytest.raises(ValueError, match="no port cost for 4CIF"):
        PortCosts({f: 1 for f in DEFAULT_PORT_COSTS if f is not VideoFormat.CIF4})
    with pytest.raises(ValueError, match="auto"):
        PortCosts({**DEFAULT_PORT_COSTS, VideoFormat.AUTO: 1})
    with pytest.raises(ValueError, match="1080P30"):
        PortCosts({**DEFAULT_PORT_COSTS, VideoFormat.HD1080P30: 0})


def test_a_site_without_a_format_is_reserved_above_what_the_media_plane_sends_it() -> None:
    """Auto costs the costliest format; the media plane sends such a site its default
    format, which therefore never costs more than the reservation."""
    from mcu.media.output_format import DEFAULT_VIDEO_FORMAT

    costs = PortCosts()
    assert costs.of(None) == costs.top >= costs.of(DEFAULT_VIDEO_FORMAT)


def test_cp_resource_capacity(store: SchedulerStore, clock: ManualClock) -> None:
    scheduler = Scheduler(store, clock, SchedulerSettings(max_cp_resources=20))
    scheduler.schedule(spec(uris=("a",), cp_resource=16))
    refused(Fault.CAPACITY_EXCEEDED, scheduler.schedule, spec(uris=("b",), cp_resource=5))
    assert scheduler.schedule(spec(uris=("b",), cp_resource=4)).spec.cp_resource == 4


# -- edits and deletion -------------------------------------------------------------------


def test_edit_a_scheduled_conference(scheduler: Scheduler) -> None:
    conference = scheduler.schedule(spec(password="111111"))
    edited = scheduler.edit(
        conference.conf_id, spec(name="renamed", begin=START + 3 * HOUR, uris=("x",))
    )
    assert edited.conf_id == conference.conf_id
    assert edited.access_code == conference.access_code
    assert edited.password == "111111"  # not given: kept
    assert edited.occurrences[0].begin == START + 3 * HOUR
    assert [s.uri for s in edited.occurrences[0].sites] == ["x"]
    assert scheduler.get(conference.conf_id).spec.name == "renamed"


def test_edit_an_ongoing_conference_keeps_its_begin(
    scheduler: Scheduler, clock: ManualClock
) -> None:
    conference = scheduler.schedule(spec())
    clock.advance(HOUR + timedelta(minutes=10))
    longer = scheduler.edit(conference.conf_id, spec(duration=2 * HOUR))
    assert longer.occurrences[0].end == START + 3 * HOUR
    refused(Fault.BAD_TIME, scheduler.edit, conference.conf_id, spec(begin=START + 2 * HOUR))
    refused(Fault.BAD_TIME, scheduler.edit, conference.conf_id, spec(duration=timedelta(minutes=5)))
    clock.advance(3 * HOUR)
    refused(Fault.CONFERENCE_ENDED, scheduler.edit, conference.conf_id, spec())


def test_delete_an_ongoing_conference_ends_it_now(scheduler: Scheduler, clock: ManualClock) -> None:
    conference = scheduler.schedule(spec())
    clock.advance(HOUR + timedelta(minutes=15))
    scheduler.delete(conference.conf_id)
    state, occurrence = scheduler.state(conference.conf_id)
    assert state is ConferenceState.ENDED
    assert occurrence.end == clock.now()


def test_add_and_remove_sites(scheduler: Scheduler) -> None:
    conference = scheduler.schedule(spec(uris=("a",)))
    refused(Fault.SITE_ALREADY_IN_CONFERENCE, scheduler.add_site, conference.conf_id, SiteSpec("a"))
    added = scheduler.add_site(conference.conf_id, SiteSpec("b", name="B"))
    assert [s.uri for s in added.occurrences[0].sites] == ["a", "b"]
    assert [s.uri for s in added.spec.sites] == ["a", "b"]
    removed = scheduler.remove_site(conference.conf_id, "a")
    assert [s.uri for s in removed.occurrences[0].sites] == ["b"]
    refused(Fault.SITE_NOT_IN_CONFERENCE, scheduler.remove_site, conference.conf_id, "a")


# -- recurrence ---------------------------------------------------------------------------

DAILY5 = RecurrenceRule(Frequency.DAILY, count=5)


def occurrence_begins(conference) -> list[datetime]:
    return [o.begin for o in conference.occurrences]


def test_schedule_recurrence_lists_every_occurrence(scheduler: Scheduler) -> None:
    rule = RecurrenceRule(Frequency.DAILY, interval=2, count=5)
    conference = scheduler.schedule_recurrence(spec(), rule)
    assert occurrence_begins(conference) == [START + HOUR + timedelta(days=2 * i) for i in range(5)]
    assert all([s.uri for s in o.sites] == ["01010086", "01010010"] for o in conference.occurrences)
    assert conference.recurrence == rule


def test_recurrence_conflicts_with_a_booking_on_a_later_day(scheduler: Scheduler) -> None:
    scheduler.schedule(spec(begin=START + HOUR + timedelta(days=3), uris=("b",)))
    refused(Fault.SITE_BUSY, scheduler.schedule_recurrence, spec(uris=("a", "b")), DAILY5)
    refused(
        Fault.BAD_TIME,
        scheduler.schedule_recurrence,
        spec(uris=("a",), duration=timedelta(hours=25)),
        DAILY5,
    )
    assert len(scheduler.conferences()) == 1


def test_state_walks_through_occurrences(scheduler: Scheduler, clock: ManualClock) -> None:
    conference = scheduler.schedule_recurrence(spec(), DAILY5)
    clock.advance(HOUR + timedelta(minutes=5))
    state, occurrence = scheduler.state(conference.conf_id)
    assert state is ConferenceState.ONGOING and occurrence.begin == START + HOUR
    clock.advance(HOUR)
    state, occurrence = scheduler.state(conference.conf_id)
    assert state is ConferenceState.SCHEDULED
    assert occurrence.begin == START + HOUR + timedelta(days=1)
    clock.advance(timedelta(days=5))
    assert scheduler.state(conference.conf_id)[0] is ConferenceState.ENDED


def test_edit_one_occurrence_only(scheduler: Scheduler) -> None:
    conference = scheduler.schedule_recurrence(spec(), DAILY5)
    third = START + HOUR + timedelta(days=2)
    edited = scheduler.edit_recurrence(
        conference.conf_id,
        spec(name="moved", begin=third + 2 * HOUR, duration=2 * HOUR, uris=("z",)),
        DAILY5,
        occurrence_begin=third,
    )
    changed = edited.occurrences[2]
    assert (changed.name, changed.begin, changed.duration) == ("moved", third + 2 * HOUR, 2 * HOUR)
    assert [s.uri for s in changed.sites] == ["z"]
    assert all(o.name == "consult" for i, o in enumerate(edited.occurrences) if i != 2)
    refused(
        Fault.OCCURRENCE_NOT_FOUND,
        scheduler.edit_recurrence,
        conference.conf_id,
        spec(),
        DAILY5,
        occurrence_begin=third,  # it moved
    )


def test_edit_all_keeps_past_and_ongoing_occurrences(
    scheduler: Scheduler, clock: ManualClock
) -> None:
    conference = scheduler.schedule_recurrence(spec(), DAILY5)
    clock.advance(timedelta(days=1, hours=1, minutes=30))  # second occurrence running
    new_rule = RecurrenceRule(Frequency.DAILY, count=5)
    edited = scheduler.edit_recurrence(
        conference.conf_id, spec(name="later", begin=START + 3 * HOUR), new_rule
    )
    begins = occurrence_begins(edited)
    assert begins[:2] == [START + HOUR, START + HOUR + timedelta(days=1)]
    assert begins[2:] == [START + 3 * HOUR + timedelta(days=d) for d in (1, 2, 3, 4)]
    assert [o.name for o in edited.occurrences] == ["consult", "consult"] + ["later"] * 4
    assert scheduler.state(conference.conf_id)[0] is ConferenceState.ONGOING


def test_prolong_one_occurrence_or_all(scheduler: Scheduler) -> None:
    conference = scheduler.schedule_recurrence(spec(), DAILY5)
    second = START + HOUR + timedelta(days=1)
    one = scheduler.prolong(conference.conf_id, timedelta(minutes=30), occurrence_begin=second)
    assert [o.duration for o in one.occurrences] == [HOUR, HOUR * 1.5, HOUR, HOUR, HOUR]
    every = scheduler.prolong(conference.conf_id, timedelta(minutes=30))
    assert [o.duration for o in every.occurrences] == [HOUR * 1.5, 2 * HOUR] + [HOUR * 1.5] * 3


def test_delete_one_occurrence(scheduler: Scheduler, clock: ManualClock) -> None:
    conference = scheduler.schedule_recurrence(spec(), DAILY5)
    second = START + HOUR + timedelta(days=1)
    scheduler.delete(conference.conf_id, occurrence_begin=second)
    assert second not in occurrence_begins(scheduler.get(conference.conf_id))
    assert len(scheduler.get(conference.conf_id).occurrences) == 4
    refused(Fault.OCCURRENCE_NOT_FOUND, scheduler.delete, conference.conf_id, second)
    clock.advance(HOUR + timedelta(minutes=10))
    scheduler.delete(conference.conf_id, occurrence_begin=START + HOUR)  # ongoing: ends now
    first = scheduler.get(conference.conf_id).occurrences[0]
    assert first.end == clock.now()
    assert scheduler.state(conference.conf_id)[0] is ConferenceState.SCHEDULED


def test_delete_a_running_series_ends_it_and_drops_the_future(
    scheduler: Scheduler, clock: ManualClock
) -> None:
    conference = scheduler.schedule_recurrence(spec(), DAILY5)
    clock.advance(timedelta(days=1, hours=1, minutes=5))
    scheduler.delete(conference.conf_id)
    kept = scheduler.get(conference.conf_id)
    assert len(kept.occurrences) == 2
    assert kept.occurrences[-1].end == clock.now()
    assert scheduler.state(conference.conf_id)[0] is ConferenceState.ENDED


def test_add_site_to_one_occurrence(scheduler: Scheduler) -> None:
    conference = scheduler.schedule_recurrence(spec(uris=("a",)), DAILY5)
    third = START + HOUR + timedelta(days=2)
    updated = scheduler.add_site(conference.conf_id, SiteSpec("b"), occurrence_begin=third)
    assert [[s.uri for s in o.sites] for o in updated.occurrences] == [
        ["a"],
        ["a"],
        ["a", "b"],
        ["a"],
        ["a"],
    ]


# -- free/busy ----------------------------------------------------------------------------


def test_free_busy_lists_every_occurrence_in_the_window(scheduler: Scheduler) -> None:
    series = scheduler.schedule_recurrence(spec(uris=("a",)), DAILY5)
    single = scheduler.schedule(spec(name="one", begin=START + 4 * HOUR, uris=("a", "b")))
    window = scheduler.free_busy(["a", "b"], START, timedelta(days=2))
    assert [(i.start, i.span, i.state, i.conf_id) for i in window["a"]] == [
        (START + HOUR, HOUR, FreeBusy.BUSY, series.conf_id),
        (START + 4 * HOUR, HOUR, FreeBusy.BUSY, single.conf_id),
        (START + HOUR + timedelta(days=1), HOUR, FreeBusy.BUSY, series.conf_id),
    ]
    assert [(i.conf_id, i.conf_name) for i in window["b"]] == [(single.conf_id, "one")]


def test_free_busy_interval_is_whole_not_clipped(scheduler: Scheduler) -> None:
    scheduler.schedule(spec(uris=("a",), duration=2 * HOUR))
    (interval,) = scheduler.free_busy(["a"], START + 2 * HOUR, timedelta(minutes=30))["a"]
    assert (interval.start, interval.span) == (START + HOUR, 2 * HOUR)


def test_free_busy_unknown_and_free_sites(scheduler: Scheduler) -> None:
    scheduler.schedule(spec(uris=("a",)))
    scheduler.add_directory_site(DirectorySite(uri="d", name="Directory site"))
    answer = scheduler.free_busy(["nobody", "d", "a"], START + 5 * HOUR, HOUR)
    (unknown,) = answer["nobody"]
    assert unknown.state is FreeBusy.UNKNOWN_SITE
    assert (unknown.start, unknown.span) == (START + 5 * HOUR, HOUR)
    assert answer["d"] == []
    assert answer["a"] == []


def test_free_busy_refuses_a_bad_window(scheduler: Scheduler) -> None:
    refused(Fault.BAD_TIME, scheduler.free_busy, ["a"], START, timedelta(0))
    refused(Fault.BAD_TIME, scheduler.free_busy, ["a"], datetime(2026, 1, 1), HOUR)


def test_changes_reports_deletion_as_free_with_the_conference_id(scheduler: Scheduler) -> None:
    conference = scheduler.schedule(spec(name="gone", uris=("a", "b")))
    since = scheduler.revision()
    assert scheduler.changes(["a"], START, timedelta(days=1), since) == {"a": []}
    scheduler.delete(conference.conf_id)
    changes = scheduler.changes(["a", "b"], START, timedelta(days=1), since)
    for uri in ("a", "b"):
        (entry,) = changes[uri]
        assert (entry.state, entry.conf_id, entry.conf_name) == (
            FreeBusy.FREE,
            conference.conf_id,
            "gone",
        )
        assert (entry.start, entry.span) == (START + HOUR, HOUR)
    # Outside the window or already seen: nothing.
    assert scheduler.changes(["a"], START + timedelta(days=2), HOUR, since) == {"a": []}
    assert scheduler.changes(["a"], START, timedelta(days=1), scheduler.revision()) == {"a": []}


def test_changes_reports_a_removed_site_and_the_changed_busy_entries(
    scheduler: Scheduler,
) -> None:
    conference = scheduler.schedule(spec(uris=("a", "b")))
    since = scheduler.revision()
    scheduler.remove_site(conference.conf_id, "b")
    scheduler.prolong(conference.conf_id, timedelta(minutes=30))
    changes = scheduler.changes(["a", "b", "nobody"], START, timedelta(days=1), since)
    (freed,) = changes["b"]
    assert (freed.state, freed.conf_id) == (FreeBusy.FREE, conference.conf_id)
    (busy,) = changes["a"]
    assert (busy.state, busy.span) == (FreeBusy.BUSY, HOUR * 1.5)
    assert changes["nobody"][0].state is FreeBusy.UNKNOWN_SITE


def test_changes_of_a_moved_occurrence_free_the_old_slot(scheduler: Scheduler) -> None:
    conference = scheduler.schedule(spec(uris=("a",)))
    since = scheduler.revision()
    scheduler.edit(conference.conf_id, spec(begin=START + 5 * HOUR, uris=("a",)))
    entries = scheduler.changes(["a"], START, timedelta(days=1), since)["a"]
    assert [(e.start, e.state) for e in entries] == [
        (START + HOUR, FreeBusy.FREE),
        (START + 5 * HOUR, FreeBusy.BUSY),
    ]


def test_a_site_removed_then_added_again_reports_busy_only(scheduler: Scheduler) -> None:
    conference = scheduler.schedule(spec(uris=("a", "b")))
    since = scheduler.revision()
    scheduler.remove_site(conference.conf_id, "b")
    scheduler.add_site(conference.conf_id, SiteSpec("b"))
    (entry,) = scheduler.changes(["b"], START, timedelta(days=1), since)["b"]
    assert entry.state is FreeBusy.BUSY


# -- the site directory -------------------------------------------------------------------


def test_directory_crud(scheduler: Scheduler) -> None:
    site = DirectorySite(uri="01088888", name="VCT888", rate="1920k")
    scheduler.add_directory_site(site)
    refused(Fault.SITE_EXISTS, scheduler.add_directory_site, site)
    assert scheduler.directory_site("01088888").name == "VCT888"
    scheduler.edit_directory_site(DirectorySite(uri="01088888", name="renamed"))
    assert [s.name for s in scheduler.directory()] == ["renamed"]
    scheduler.delete_directory_site("01088888")
    assert scheduler.directory() == []
    refused(Fault.SITE_NOT_FOUND, scheduler.directory_site, "01088888")
    refused(Fault.SITE_NOT_FOUND, scheduler.delete_directory_site, "01088888")
    refused(Fault.SITE_NOT_FOUND, scheduler.edit_directory_site, site)
    refused(Fault.MISSING_PARAMETER, scheduler.add_directory_site, DirectorySite(uri="", name="x"))


def test_deleting_several_directory_sites_is_one_change_or_none(scheduler: Scheduler) -> None:
    for uri in ("0101", "0102", "0103"):
        scheduler.add_directory_site(DirectorySite(uri=uri, name=uri))
    before = scheduler.revision()
    refused(Fault.SITE_NOT_FOUND, scheduler.delete_directory_sites, ["0101", "0999"])
    assert [s.uri for s in scheduler.directory()] == ["0101", "0102", "0103"]
    assert scheduler.revision() == before
    scheduler.delete_directory_sites(["0101", "0102", "0101"])
    assert [s.uri for s in scheduler.directory()] == ["0103"]
    assert scheduler.revision() == before + 1  # one transaction for the whole request


# -- rejected operations change nothing ---------------------------------------------------


def test_rejected_operations_leave_memory_and_database_unchanged(
    store: SchedulerStore, clock: ManualClock
) -> None:
    scheduler = Scheduler(store, clock, SchedulerSettings(max_ports=2))
    first = scheduler.schedule(spec(uris=("a", "b")))
    series = scheduler.schedule_recurrence(spec(begin=START + 3 * HOUR, uris=("c",)), DAILY5)
    snapshot = (scheduler.revision(), scheduler.conferences(), scheduler.directory())
    attempts = [
        (Fault.SITE_BUSY, scheduler.schedule, spec(uris=("b",))),
        (Fault.CAPACITY_EXCEEDED, scheduler.add_site, first.conf_id, SiteSpec("z1")),
        (Fault.BAD_PASSWORD, scheduler.edit, first.conf_id, spec(password="1")),
        (Fault.SITE_BUSY, scheduler.edit_recurrence, series.conf_id, spec(uris=("a",)), DAILY5),
        (
            Fault.BAD_RECURRENCE,
            scheduler.edit_recurrence,
            series.conf_id,
            spec(begin=START + 3 * HOUR, uris=("c",)),
            RecurrenceRule(Frequency.WEEKLY, count=2),
        ),
        (Fault.OCCURRENCE_NOT_FOUND, scheduler.delete, series.conf_id, START),
        (Fault.SITE_NOT_IN_CONFERENCE, scheduler.remove_site, first.conf_id, "zz"),
        (Fault.SITE_NOT_FOUND, scheduler.delete_directory_site, "zz"),
    ]
    for fault, call, *args in attempts:
        refused(fault, call, *args)
    assert (scheduler.revision(), scheduler.conferences(), scheduler.directory()) == snapshot
    reloaded = Scheduler(store, clock)
    assert reloaded.revision() == snapshot[0]
    assert reloaded.conferences() == snapshot[1]
