"""The store's versioned schema (mcu/store_migrations.py): an SQLite file made before
versioning upgrades in place and keeps every row; new stores start at the newest version on
both backends; a store at a version newer than the code is refused, and `mcu-sim serve`
says so; gateways starting at once migrate a PostgreSQL database once."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from gateway.settings import SettingsError, load_settings
from mcu.clock import ManualClock
from mcu.model import ConferenceSpec, FreeBusy, SiteSpec
from mcu.scheduler import Scheduler
from mcu.store import Store
from mcu.store_api import StoreOpenError, open_store
from mcu.store_migrations import (
    POSTGRES_LATEST,
    SQLITE_LATEST,
    SQLITE_STEPS,
    StoreVersionError,
)
from mcu.store_postgres import PostgresStore

# made by tests/data/make_store_before_migrations.py with the store code of commit 9f5288f
OLD_FILE = Path(__file__).parent / "data" / "store-before-migrations.sqlite3"
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
PROJECT = Path(__file__).resolve().parent.parent


def sqlite_version(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT version FROM schema_version").fetchone()[0]


def test_a_file_made_before_versioning_upgrades_in_place_with_every_row(
        tmp_path: Path) -> None:
    path = tmp_path / "mcu.sqlite3"
    shutil.copy(OLD_FILE, path)
    with sqlite3.connect(path) as connection:  # no version recorded: version 0
        tables = {row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "schema_version" not in tables and "conferences" in tables

    store = Store(path)
    scheduler = Scheduler(store, ManualClock(START))
    assert sqlite_version(path) == SQLITE_LATEST == SQLITE_STEPS[-1].version
    # what the old code answered (make_store_before_migrations.py printed 1001 1002 1003 5)
    assert scheduler.revision() == 5
    assert [(c.conf_id, c.spec.name, c.creator) for c in scheduler.conferences()] == [
        ("1001", "plain", "alice"), ("1002", "series", "bob")]
    assert len(scheduler.get("1002").occurrences) == 3
    assert scheduler.directory_site("dir").org_id == "org-1"
    (freed,) = scheduler.changes(["e"], START, timedelta(days=1), 3)["e"]
    assert (freed.state, freed.conf_id) == (FreeBusy.FREE, "1003")
    assert store.call_records("multipoint", START, START + timedelta(days=1), None, 10, 0,
                              {"1001"}) == (1, [{"conf_id": "1001", "site": "a"}])
    assert store.recording_conferences() == {"1001"}
    assert store.live_conferences() == {"1002": "token-1"}
    # and it goes on from there: the next id, the next revision
    fresh = scheduler.schedule(ConferenceSpec(
        name="new", begin=START + timedelta(days=2), duration=timedelta(hours=1),
        sites=[SiteSpec(uri="f", name="F")]))
    assert (fresh.conf_id, scheduler.revision()) == ("1004", 6)
    store.close()
    # opened again: already at the newest version, nothing re-run, nothing lost
    reopened = Scheduler(Store(path), ManualClock(START))
    assert sqlite_version(path) == SQLITE_LATEST
    assert [c.conf_id for c in reopened.conferences()] == ["1001", "1002", "1004"]


def test_new_stores_start_at_the_newest_version(tmp_path: Path, postgres_url: str) -> None:
    Store(tmp_path / "new.sqlite3").close()
    assert sqlite_version(tmp_path / "new.sqlite3") == SQLITE_LATEST
    PostgresStore(postgres_url).close()
    with psycopg.connect(postgres_url) as connection:
        assert connection.execute("SELECT version FROM schema_version").fetchall() == [
            (POSTGRES_LATEST,)]


def test_a_store_newer_than_the_code_is_refused(tmp_path: Path, postgres_url: str) -> None:
    path = tmp_path / "mcu.sqlite3"
    Store(path).close()
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE schema_version SET version = ?", (SQLITE_LATEST + 1,))
    with pytest.raises(StoreVersionError, match=f"version {SQLITE_LATEST + 1}"):
        Store(path)
    assert sqlite_version(path) == SQLITE_LATEST + 1  # left as it was

    PostgresStore(postgres_url).close()
    with psycopg.connect(postgres_url) as connection:
        connection.execute("UPDATE schema_version SET version = %s", (POSTGRES_LATEST + 1,))
    with pytest.raises(StoreOpenError, match=f"version {POSTGRES_LATEST + 1}"):
        open_store(postgres_url, tmp_path)


def test_gateways_starting_at_once_migrate_postgresql_once(
        postgres_url: str, tmp_path: Path) -> None:
    opened: list[PostgresStore] = []
    errors: list[BaseException] = []
    go = threading.Barrier(4)

    def start() -> None:
        try:
            go.wait()
            opened.append(PostgresStore(postgres_url))
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert not errors, errors
        assert len(opened) == 4
        with psycopg.connect(postgres_url) as connection:
            assert connection.execute("SELECT version FROM schema_version").fetchall() == [
                (POSTGRES_LATEST,)]
    finally:
        for store in opened:
            store.close()


def test_the_store_url_setting_is_checked(tmp_path: Path) -> None:
    config = tmp_path / "mcu.toml"
    config.write_text('[store]\nurl = "mysql://somewhere/db"\n')
    with pytest.raises(SettingsError, match=r"\[store\] url"):
        load_settings(config)
    config.write_text('[store]\nurl = "postgresql://mcu@db.example:5432/mcu"\n')
    assert load_settings(config).store_url == "postgresql://mcu@db.example:5432/mcu"
    assert load_settings().store_url == ""  # SQLite by default


def test_serve_says_when_the_store_cannot_be_opened(tmp_path: Path) -> None:
    """An unreachable database: `mcu-sim serve` exits 2 with the reason, no traceback."""
    with socket_free_port() as port:
        config = tmp_path / "mcu.toml"
        config.write_text(f'[store]\nurl = "postgresql://nobody@127.0.0.1:{port}/mcu"\n')
        done = subprocess.run(
            [sys.executable, "-m", "app.cli", "serve", "--sip-port", "0", "--config", str(config), "--port", "0",
             "--data-dir", str(tmp_path / "data"), "--no-terminals"],
            cwd=PROJECT, capture_output=True, text=True, timeout=120,
        )
    assert done.returncode == 2, done.stderr
    assert "cannot open the PostgreSQL store" in done.stderr
    assert "Traceback" not in done.stderr


class socket_free_port:
    """A loopback port that nothing listens on while the block runs (held bound, not
    listening: a connection to it is refused)."""

    def __enter__(self) -> int:
        import socket

        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        return int(self._socket.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        self._socket.close()
