"""Two schedulers on one PostgreSQL store, as two gateways sharing one platform: each sees
the other's writes, the counters (conference ids, revision) stay unique when both write at
once, and a booking is validated against the other's bookings (no double booking, no lost
update). In-process stores here; tests/test_shared_store_gateways.py does it with two real
`mcu-sim serve` processes through SOAP."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from mcu.clock import ManualClock
from mcu.errors import DomainError, Fault
from mcu.model import ConferenceSpec, DirectorySite, FreeBusy, SiteSpec
from mcu.scheduler import Scheduler
from mcu.store_api import SchedulerStore, open_store

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def spec(name: str, begin: datetime, *uris: str) -> ConferenceSpec:
    return ConferenceSpec(name=name, begin=begin, duration=HOUR,
                          sites=[SiteSpec(uri=uri, name=uri) for uri in uris])


@pytest.fixture
def stores(postgres_url: str, tmp_path: Path) -> Iterator[list[SchedulerStore]]:
    opened = [open_store(postgres_url, tmp_path) for _ in range(2)]
    yield opened
    for store in opened:
        store.close()


@pytest.fixture
def pair(stores: list[SchedulerStore]) -> tuple[Scheduler, Scheduler]:
    clock = ManualClock(START)
    return Scheduler(stores[0], clock), Scheduler(stores[1], clock)


def test_each_gateway_sees_what_the_other_wrote(pair: tuple[Scheduler, Scheduler]) -> None:
    a, b = pair
    booked = a.schedule(spec("from a", START + HOUR, "site-1"), creator="alice")
    assert b.get(booked.conf_id).spec.name == "from a"
    assert b.revision() == a.revision() == 1
    assert [busy.state for busy in
            b.free_busy(["site-1"], START, 4 * HOUR)["site-1"]] == [FreeBusy.BUSY]
    from_b = b.schedule(spec("from b", START + 2 * HOUR, "site-2"))
    assert int(from_b.conf_id) == int(booked.conf_id) + 1
    assert [c.conf_id for c in a.conferences()] == [booked.conf_id, from_b.conf_id]
    b.add_directory_site(DirectorySite(uri="dir-1", name="Radiology", org_id="1"))
    assert a.directory_site("dir-1").name == "Radiology"
    a.delete_directory_site("dir-1")
    assert b.directory() == []
    b.add_directory_site(DirectorySite(uri="dir-1", name="Radiology", org_id="1"))
    a.delete(booked.conf_id)
    # the deletion's FREE tombstone reaches the other gateway's synchSiteStatus answer
    (freed,) = b.changes(["site-1"], START, 4 * HOUR, since_revision=5)["site-1"]
    assert (freed.state, freed.conf_id) == (FreeBusy.FREE, booked.conf_id)
    with pytest.raises(DomainError) as caught:
        b.get(booked.conf_id)
    assert caught.value.fault is Fault.CONFERENCE_NOT_FOUND


def test_a_booking_is_checked_against_the_other_gateways_bookings(
        pair: tuple[Scheduler, Scheduler]) -> None:
    a, b = pair
    a.schedule(spec("first", START + HOUR, "cardiology"))
    with pytest.raises(DomainError) as caught:
        b.schedule(spec("second", START + HOUR, "cardiology"))
    assert caught.value.fault is Fault.SITE_BUSY
    # the refusal left nothing: no conference, no revision, no id used up
    assert len(a.conferences()) == len(b.conferences()) == 1
    assert b.revision() == 1
    assert b.schedule(spec("later", START + 3 * HOUR, "cardiology")).conf_id == "1002"


def test_edits_on_both_gateways_are_not_lost(pair: tuple[Scheduler, Scheduler]) -> None:
    a, b = pair
    booked = a.schedule(spec("consult", START + HOUR, "s1"))
    b.add_site(booked.conf_id, SiteSpec(uri="s2", name="s2"))
    a.add_site(booked.conf_id, SiteSpec(uri="s3", name="s3"))  # a's copy is stale: reloads
    a.prolong(booked.conf_id, timedelta(minutes=30))
    for scheduler in (a, b):
        conference = scheduler.get(booked.conf_id)
        assert [site.uri for site in conference.occurrences[0].sites] == ["s1", "s2", "s3"]
        assert conference.occurrences[0].duration == HOUR + timedelta(minutes=30)


def test_bookings_from_both_gateways_at_once_get_distinct_ids(
        pair: tuple[Scheduler, Scheduler]) -> None:
    per_gateway = 15
    booked: dict[str, list[str]] = {"a": [], "b": []}
    errors: list[BaseException] = []
    go = threading.Barrier(2)

    def book(name: str, scheduler: Scheduler) -> None:
        try:
            go.wait()
            for n in range(per_gateway):
                # every booking its own site and hour: none refuses another
                conference = scheduler.schedule(
                    spec(f"{name}{n}", START + (n + 1) * HOUR, f"{name}-site-{n}"))
                booked[name].append(conference.conf_id)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=book, args=(name, scheduler))
               for name, scheduler in zip("ab", pair, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    ids = booked["a"] + booked["b"]
    assert len(set(ids)) == 2 * per_gateway
    assert sorted(map(int, ids)) == list(range(1001, 1001 + 2 * per_gateway))
    for scheduler in pair:
        assert scheduler.revision() == 2 * per_gateway
        assert sorted(c.conf_id for c in scheduler.conferences()) == sorted(ids)


def test_connections_cut_while_idle_are_opened_again(
        postgres_url: str, pair: tuple[Scheduler, Scheduler]) -> None:
    """The database restarted or a proxy dropped idle connections: the next query and the
    next booking on either gateway reconnect instead of failing."""
    a, b = pair
    kept = a.schedule(spec("kept", START + HOUR, "x1"))

    def cut_every_connection() -> int:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            rows = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE pid <> pg_backend_pid() AND datname = current_database() "
                "AND backend_type = 'client backend'").fetchall()
        return len(rows)

    assert cut_every_connection() == 2  # the two gateways' connections
    again = a.schedule(spec("again", START + 2 * HOUR, "x2"))  # a booking first: a write
    assert again.conf_id == str(int(kept.conf_id) + 1)
    assert cut_every_connection() == 1  # a's new one (b's is still the cut one)
    assert [c.spec.name for c in b.conferences()] == ["kept", "again"]  # a query first
    assert [c.spec.name for c in a.conferences()] == ["kept", "again"]
