"""Persistence: a restarted scheduler (a new store on the same file or database) has
everything it answered for, also after the process was killed with SIGKILL; on both stores
(SQLite and PostgreSQL, the `store_url` fixture) where the test is not about SQLite's file."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from app.child_process import dies_with_parent
from mcu.clock import ManualClock
from mcu.model import (
    ConferenceSpec,
    DirectorySite,
    FreeBusy,
    Frequency,
    RecurrenceRule,
    SiteSpec,
)
from mcu.scheduler import Scheduler
from mcu.store import Store
from mcu.store_api import open_store
from tests.conftest import open_test_store

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
PROJECT = Path(__file__).resolve().parent.parent


def spec(name: str, begin: datetime, *uris: str) -> ConferenceSpec:
    return ConferenceSpec(
        name=name, begin=begin, duration=HOUR, sites=[SiteSpec(uri=u, name=u) for u in uris]
    )


def test_everything_survives_a_restart(store_url: str, tmp_path: Path) -> None:
    path = tmp_path / "scheduler.db"
    clock = ManualClock(START)
    scheduler = Scheduler(open_test_store(store_url, path), clock)
    plain = scheduler.schedule(spec("plain", START + HOUR, "a", "b"), creator="alice")
    rule = RecurrenceRule(Frequency.WEEKLY, week_days=[1, 3], count=4, time_zone="America/New_York")
    series = scheduler.schedule_recurrence(spec("series", START + 3 * HOUR, "c"), rule,
                                           creator="bob")
    second = series.occurrences[1].begin
    scheduler.prolong(series.conf_id, timedelta(minutes=15), occurrence_begin=second)
    scheduler.edit_recurrence(
        series.conf_id,
        spec("one-off", series.occurrences[2].begin, "c", "d"),
        rule,
        occurrence_begin=series.occurrences[2].begin,
    )
    gone = scheduler.schedule(spec("gone", START + 5 * HOUR, "e"))
    since = scheduler.revision()
    scheduler.delete(gone.conf_id)
    scheduler.add_directory_site(DirectorySite(uri="dir", name="Directory"))
    expected = (scheduler.revision(), scheduler.conferences(), scheduler.directory())
    expected_changes = scheduler.changes(["e", "c"], START, timedelta(days=30), since)

    restarted = Scheduler(open_test_store(store_url, path), clock)
    assert (restarted.revision(), restarted.conferences(), restarted.directory()) == expected
    assert restarted.changes(["e", "c"], START, timedelta(days=30), since) == expected_changes
    assert restarted.get(plain.conf_id).password == plain.password
    assert restarted.get(series.conf_id).recurrence == rule
    # who booked them, kept through the series' edits
    assert (restarted.get(plain.conf_id).creator, restarted.get(series.conf_id).creator) == (
        "alice", "bob")
    # Allocation continues after the restart instead of reusing ids or access codes.
    fresh = restarted.schedule(spec("fresh", START + 20 * HOUR, "f"))
    assert int(fresh.conf_id) > int(gone.conf_id)
    assert fresh.access_code not in {plain.access_code, series.access_code, gone.access_code}


def test_a_conference_stored_before_creators_were_kept_loads_without_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "scheduler.db"
    store = Store(path)
    booked = Scheduler(store, ManualClock(START)).schedule(spec("old", START + HOUR, "a"),
                                                           creator="alice")
    store.close()
    # the document as an earlier version wrote it: no "creator" key
    with sqlite3.connect(path) as connection:
        (document,) = connection.execute(
            "SELECT document FROM conferences WHERE conf_id = ?", (booked.conf_id,)).fetchone()
        data = json.loads(document)
        del data["creator"]
        connection.execute("UPDATE conferences SET document = ? WHERE conf_id = ?",
                           (json.dumps(data), booked.conf_id))
    restarted = Scheduler(Store(path), ManualClock(START))
    old = restarted.get(booked.conf_id)
    assert old.creator == ""
    assert old.spec.name == "old" and [s.uri for s in old.occurrences[0].sites] == ["a"]


def test_the_database_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "scheduler.db"
    Scheduler(Store(path), ManualClock(START)).schedule(spec("x", START + HOUR, "a"))
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        connection.close()


CHILD = textwrap.dedent(
    """
    import json, sys, time
    from datetime import UTC, datetime, timedelta
    from mcu.clock import ManualClock
    from mcu.model import ConferenceSpec, Frequency, RecurrenceRule, SiteSpec
    from mcu.scheduler import Scheduler
    from mcu.store_api import open_store
    from pathlib import Path

    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    scheduler = Scheduler(open_store(sys.argv[1], Path(sys.argv[2])), ManualClock(start))
    hour = timedelta(hours=1)
    for n in range(5):
        spec = ConferenceSpec(
            name=f"conf {n}", begin=start + (n + 1) * hour, duration=hour,
            sites=[SiteSpec(uri=f"site{n}")],
        )
        conference = scheduler.schedule(spec)
        print(json.dumps({"id": conference.conf_id, "code": conference.access_code}), flush=True)
    series = scheduler.schedule_recurrence(
        ConferenceSpec(name="series", begin=start + 10 * hour, duration=hour,
                       sites=[SiteSpec(uri="series-site")]),
        RecurrenceRule(Frequency.DAILY, count=3),
    )
    scheduler.prolong(series.conf_id, timedelta(minutes=20),
                      occurrence_begin=series.occurrences[1].begin)
    print(json.dumps({"id": series.conf_id, "code": series.access_code}), flush=True)
    scheduler.delete("1001")
    print(json.dumps({"deleted": "1001", "revision": scheduler.revision()}), flush=True)
    print("READY", flush=True)
    time.sleep(600)
    """
)


def test_answers_survive_sigkill(store_url: str, tmp_path: Path) -> None:
    """The child opens the store as `mcu-sim serve` does (open_store: [store] url, or SQLite
    in the data dir)."""
    child = subprocess.Popen(
        dies_with_parent([sys.executable, "-c", CHILD, store_url, str(tmp_path)]),
        stdout=subprocess.PIPE,
        text=True,
        cwd=PROJECT,
        env={**os.environ, "PYTHONPATH": str(PROJECT)},
    )
    answered = []
    try:
        assert child.stdout is not None
        for line in child.stdout:
            if line.strip() == "READY":
                break
            answered.append(json.loads(line))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    *booked, deletion = answered
    assert len(booked) == 6

    scheduler = Scheduler(open_store(store_url, tmp_path), ManualClock(START))
    assert scheduler.revision() == deletion["revision"]
    survivors = {c.conf_id: c for c in scheduler.conferences()}
    assert set(survivors) == {b["id"] for b in booked} - {deletion["deleted"]}
    for answer in booked:
        if answer["id"] in survivors:
            assert survivors[answer["id"]].access_code == answer["code"]
    series = survivors[booked[-1]["id"]]
    assert [o.duration for o in series.occurrences] == [HOUR, HOUR + timedelta(minutes=20), HOUR]
    # The deletion's tombstone survived too.
    (freed,) = scheduler.changes(["site0"], START, timedelta(days=1), deletion["revision"] - 1)[
        "site0"
    ]
    assert (freed.state, freed.conf_id) == (FreeBusy.FREE, deletion["deleted"])


def test_tombstones_are_pruned_once_their_interval_is_over_for_the_retention(
        store_url: str, tmp_path: Path) -> None:
    path = tmp_path / "mcu.sqlite3"
    clock = ManualClock(START)
    scheduler = Scheduler(open_test_store(store_url, path), clock)
    old = scheduler.schedule(spec("old", START, "site0"))
    scheduler.delete(old.conf_id)
    revision_before = scheduler.revision() - 1

    def freed(scheduler: Scheduler, since: int) -> list[str]:
        window = scheduler.changes(["site0"], START, timedelta(days=60), since)["site0"]
        return [entry.conf_id for entry in window if entry.state is FreeBusy.FREE]

    assert freed(scheduler, revision_before) == [old.conf_id]
    # 29 days after the freed hour: kept, also across a restart
    clock.advance(timedelta(days=29))
    assert Scheduler(open_test_store(store_url, path), clock).prune_tombstones() == 0
    # a deletion 31 days on writes a new tombstone and prunes the old one, in the store too
    clock.advance(timedelta(days=2))
    recent = scheduler.schedule(spec("recent", clock.now() + HOUR, "site0"))
    scheduler.delete(recent.conf_id)
    assert freed(scheduler, revision_before) == [recent.conf_id]
    reopened = Scheduler(open_test_store(store_url, path), clock)
    assert freed(reopened, revision_before) == [recent.conf_id]
    if store_url:
        with psycopg.connect(store_url) as connection:
            rows = connection.execute("SELECT conf_id FROM tombstones").fetchall()
    else:
        with sqlite3.connect(path) as connection:
            rows = connection.execute("SELECT conf_id FROM tombstones").fetchall()
    assert rows == [(recent.conf_id,)]
