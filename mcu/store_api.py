"""What the scheduler, the call records and the recording state need from a store: the
contract that the SQLite store (mcu/store.py, the default) and the PostgreSQL store
(mcu/store_postgres.py) both keep, and `open_store`, which picks one by its URL.

The transaction rule, the same on both: every scheduler operation is one transaction, taken
exclusively (SQLite: BEGIN IMMEDIATE; PostgreSQL: a transaction-scoped advisory lock), so
operations of every process writing the store run one after another; the operation reads
the revision counter first and, when another process has moved it, catches up (reads what
changed after its own revision) before it validates. It is committed before the operation answers, so a process killed right after
answering keeps the answer.
"""

from __future__ import annotations

from collections.abc import Collection
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from mcu.model import DirectorySite
    from mcu.store_documents import ConferenceRecord, StoredState, Tombstone

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class StoreWriteError(RuntimeError):
    """A call detail record the store could not write (mcu/cdr.py logs it): the PostgreSQL
    store's driver errors, as sqlite3.Error is the SQLite store's."""


class StoreOpenError(RuntimeError):
    """The store cannot be opened: its database is unreachable or refuses us, or it is at a
    schema version this code does not know."""


class StoreTransaction(Protocol):
    """The writes (and reads) of one scheduler operation; committed together or not at all."""

    def counter(self, name: str) -> int | None: ...
    def set_counter(self, name: str, value: int) -> None: ...
    def load(self) -> StoredState: ...
    def load_since(self, revision: int) -> StoredState: ...
    def put_conference(self, record: ConferenceRecord, revision: int) -> None: ...
    def add_tombstone(self, tombstone: Tombstone) -> None: ...
    def delete_tombstone(self, tombstone: Tombstone) -> None: ...
    def put_directory_site(self, site: DirectorySite) -> None: ...
    def delete_directory_site(self, uri: str) -> None: ...


class SchedulerStore(Protocol):
    # True when other processes may write the same store (PostgreSQL): the scheduler then
    # checks the revision counter before it answers a query from memory
    shared: bool

    def close(self) -> None: ...
    def transaction(self) -> AbstractContextManager[StoreTransaction]: ...
    def counter(self, name: str) -> int | None: ...
    def load(self) -> StoredState: ...
    # what changed after `revision`: the conferences and tombstones written after it, the
    # counters and the whole site directory
    def load_since(self, revision: int) -> StoredState: ...
    def add_call_record(
        self, kind: str, start: datetime, uris: tuple[str, ...], document: dict[str, Any]
    ) -> None: ...
    def call_records(
        self, kind: str, begin: datetime, end: datetime, uri: str | None,
        limit: int, offset: int, conf_ids: Collection[str] | None = None,
    ) -> tuple[int, list[dict[str, Any]]]: ...
    def set_recording(self, conf_id: str, recording: bool) -> None: ...
    def recording_conferences(self) -> set[str]: ...
    def set_live(self, conf_id: str, token: str | None) -> None: ...
    def live_conferences(self) -> dict[str, str]: ...


def is_postgres_url(url: str) -> bool:
    return url.startswith(POSTGRES_SCHEMES)


def open_store(url: str, data_dir: Path) -> SchedulerStore:
    """The PostgreSQL store at `url` when it is a postgresql:// URL, else (url "") the SQLite
    store data_dir/mcu.sqlite3. Either is migrated to its newest schema version on open."""
    if is_postgres_url(url):
        import psycopg

        from mcu.store_postgres import PostgresStore  # the driver only when it is used

        try:
            return PostgresStore(url)
        except psycopg.Error as error:
            raise StoreOpenError(f"cannot open the PostgreSQL store: {error}") from error
    if url:
        raise ValueError(f"store url {url!r}: only postgresql:// URLs (or none: SQLite)")
    data_dir.mkdir(parents=True, exist_ok=True)
    from mcu.store import Store

    return Store(data_dir / "mcu.sqlite3")
