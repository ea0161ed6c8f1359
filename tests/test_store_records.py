"""The store's other rows on both backends (`store_url`: SQLite and PostgreSQL): call detail
records and their query (kind, time window, either end's URI, conference ids, paging, oldest
first), the conferences being recorded and the live broadcasts with their tokens, each
committed before the call returns, so a store opened again has them."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from mcu.cdr import CallEnd, CallRecords, CallTimes, Direction, MultiPointRecord, NegotiatedMedia
from mcu.model import SiteType
from mcu.store_api import StoreWriteError
from tests.conftest import open_test_store

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def test_call_records_are_queried_alike_on_both_stores(store_url: str, tmp_path: Path) -> None:
    path = tmp_path / "mcu.sqlite3"
    store = open_test_store(store_url, path)
    # written out of order, one start given in another zone
    store.add_call_record("multipoint", START + 2 * MINUTE, ("a",), {"conf_id": "1002", "n": 2})
    store.add_call_record("multipoint", START, ("a",), {"conf_id": "1001", "n": 0})
    store.add_call_record("multipoint", (START + MINUTE).astimezone(timezone(timedelta(hours=8))),
                          ("b",), {"conf_id": "1001", "n": 1})
    store.add_call_record("p2p", START, ("a", "c"), {"n": 3})
    store.close()

    store = open_test_store(store_url, path)
    try:
        day = (START, START + timedelta(days=1))

        def numbers(kind: str, uri: str | None = None, limit: int = 10, offset: int = 0,
                    conf_ids: set[str] | None = None,
                    window: tuple[datetime, datetime] = day) -> tuple[int, list[int]]:
            total, documents = store.call_records(kind, *window, uri, limit, offset, conf_ids)
            return total, [document["n"] for document in documents]

        assert numbers("multipoint") == (3, [0, 1, 2])
        assert numbers("multipoint", uri="a") == (2, [0, 2])
        assert numbers("multipoint", conf_ids={"1001"}) == (2, [0, 1])
        assert numbers("multipoint", conf_ids=set()) == (0, [])
        assert numbers("multipoint", limit=1, offset=1) == (3, [1])
        assert numbers("multipoint", window=(START + MINUTE, START + 2 * MINUTE)) == (1, [1])
        assert numbers("p2p", uri="c") == (1, [3])  # the callee's end counts too
        assert numbers("p2p", conf_ids={"1001"}) == (0, [])  # p2p records have no conference
    finally:
        store.close()


def test_recording_and_live_rows_on_both_stores(store_url: str, tmp_path: Path) -> None:
    path = tmp_path / "mcu.sqlite3"
    store = open_test_store(store_url, path)
    store.set_recording("1001", True)
    store.set_recording("1001", True)  # twice: still one row
    store.set_recording("1002", True)
    store.set_recording("1002", False)
    store.set_live("1001", "first")
    store.set_live("1001", "second")  # a new token replaces the old
    store.set_live("1003", "third")
    store.set_live("1003", None)
    store.close()
    store = open_test_store(store_url, path)
    try:
        assert store.recording_conferences() == {"1001"}
        assert store.live_conferences() == {"1001": "second"}
    finally:
        store.close()


def test_call_records_reach_postgresql_through_a_cut_connection_or_are_logged(
        postgres_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = open_test_store(postgres_url, tmp_path / "unused")
    records = CallRecords(store)
    try:
        with psycopg.connect(postgres_url, autocommit=True) as admin:  # the database restarted
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'")
        records.record(record("1001"))
        assert store.call_records("multipoint", START, START + MINUTE, None, 10, 0)[0] == 1
        # a store that cannot write: logged, not raised into the hang-up that ends a call
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("DROP TABLE call_records")
        with pytest.raises(StoreWriteError):
            store.add_call_record("multipoint", START, ("a",), {"conf_id": "1002"})
        with caplog.at_level(logging.ERROR, logger="mcu.cdr"):
            records.record(record("1002"))
        assert "call detail record not written" in caplog.text
    finally:
        store.close()


def record(conf_id: str) -> MultiPointRecord:
    return MultiPointRecord(
        conf_id=conf_id, conf_name="consult", conf_creator="demo", bill_code="",
        site_uri="a", site_name="A", site_type=SiteType.SIP, participant_type=0,
        direction=Direction.DIAL_OUT, rate="1920k",
        times=CallTimes(placed=START, answered=START, ended=START + MINUTE),
        media=NegotiatedMedia(), end=CallEnd(0, "hang up"))
