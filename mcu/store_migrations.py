"""The store's versioned schema: numbered migration steps per backend and the runner that
brings a database to the newest version.

A database records the version it is at in the one-row table schema_version. Opening a store
runs, in one transaction, every step above that version and then records the last step's
number; a database at a version newer than this code knows is refused (StoreVersionError),
so an older gateway never writes into a schema it does not understand.

SQLite files made before versioning (no schema_version table) are at version 0. Their
tables were created by the code of that time, so every SQLite step is written to be
harmless on a file that already has what it adds (CREATE ... IF NOT EXISTS, a column added
only when missing): an old file runs them all, keeps every row, and is at the newest version
afterwards. A new step is appended to the list with the next number; a step once released is
never edited.

PostgreSQL databases only ever start empty (the backend came with versioning), so its steps
need no such care; the runner takes a transaction-scoped advisory lock first, so gateways
starting at once against one database migrate it once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mcu.store_api import StoreOpenError


class StoreVersionError(StoreOpenError):
    """The database is at a schema version this code does not know (written by newer code)."""


@dataclass(frozen=True)
class Step:
    version: int
    summary: str
    # SQL script, or a function of the open connection for steps that must look first
    apply: str | Callable[[Any], None]


def _directory_org_id(connection: sqlite3.Connection) -> None:
    columns = {row[1] for row in connection.execute("PRAGMA table_info(directory)")}
    if "org_id" not in columns:
        connection.execute("ALTER TABLE directory ADD COLUMN org_id TEXT")


SQLITE_STEPS: tuple[Step, ...] = (
    Step(1, "counters, conferences, site directory, free/busy tombstones", """
        CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS conferences (conf_id TEXT PRIMARY KEY, document TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS directory (uri TEXT PRIMARY KEY, document TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS tombstones (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            uri TEXT NOT NULL,
            conf_id TEXT NOT NULL,
            conf_name TEXT NOT NULL,
            begin TEXT NOT NULL,
            span_us INTEGER NOT NULL,
            revision INTEGER NOT NULL
        );
    """),
    # start: the record's start time in UTC, written so that text order is time order
    Step(2, "call detail records (mcu/cdr.py)", """
        CREATE TABLE IF NOT EXISTS call_records (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            start TEXT NOT NULL,
            uri_a TEXT NOT NULL,
            uri_b TEXT,
            document TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS call_records_by_start ON call_records (kind, start);
    """),
    Step(3, "conferences being recorded (mcu/runtime/recording.py)", """
        CREATE TABLE IF NOT EXISTS recording_conferences (conf_id TEXT PRIMARY KEY);
    """),
    Step(4, "conferences broadcast live and their player tokens", """
        CREATE TABLE IF NOT EXISTS live_conferences (
            conf_id TEXT PRIMARY KEY, token TEXT NOT NULL);
    """),
    # rows of older files keep no organization (NULL)
    Step(5, "the organization of each directory site", _directory_org_id),
    # rows of older files get revision 0: only a whole load (at start) reads them, and they
    # predate every revision a running scheduler catches up from
    Step(6, "the revision at which each conference last changed", """
        ALTER TABLE conferences ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX IF NOT EXISTS conferences_by_revision ON conferences (revision);
        CREATE INDEX IF NOT EXISTS tombstones_by_revision ON tombstones (revision);
    """),
)

POSTGRES_STEPS: tuple[Step, ...] = (
    Step(1, "the whole schema of the SQLite store's version 5", """
        CREATE TABLE meta (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
        CREATE TABLE conferences (conf_id TEXT PRIMARY KEY, document TEXT NOT NULL);
        CREATE TABLE directory (uri TEXT PRIMARY KEY, document TEXT NOT NULL, org_id TEXT);
        CREATE TABLE tombstones (
            id BIGSERIAL PRIMARY KEY,
            uri TEXT NOT NULL,
            conf_id TEXT NOT NULL,
            conf_name TEXT NOT NULL,
            begin_at TEXT NOT NULL,
            span_us BIGINT NOT NULL,
            revision BIGINT NOT NULL
        );
        CREATE TABLE call_records (
            id BIGSERIAL PRIMARY KEY,
            kind TEXT NOT NULL,
            start TEXT NOT NULL,
            uri_a TEXT NOT NULL,
            uri_b TEXT,
            document JSONB NOT NULL
        );
        CREATE INDEX call_records_by_start ON call_records (kind, start);
        CREATE TABLE recording_conferences (conf_id TEXT PRIMARY KEY);
        CREATE TABLE live_conferences (conf_id TEXT PRIMARY KEY, token TEXT NOT NULL);
    """),
    Step(2, "the revision at which each conference last changed (SQLite's step 6)", """
        ALTER TABLE conferences ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
        CREATE INDEX conferences_by_revision ON conferences (revision);
        CREATE INDEX tombstones_by_revision ON tombstones (revision);
    """),
)

SQLITE_LATEST = SQLITE_STEPS[-1].version
POSTGRES_LATEST = POSTGRES_STEPS[-1].version


def _check_known(found: int, latest: int) -> None:
    if found > latest:
        raise StoreVersionError(
            f"the store is at schema version {found}; this code knows versions up to {latest}"
        )


def migrate_sqlite(connection: sqlite3.Connection) -> int:
    """Bring an SQLite store (autocommit connection) to SQLITE_LATEST in one transaction;
    the version it was at before (0: made before versioning, or new)."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = connection.execute("SELECT version FROM schema_version").fetchone()
        found = row[0] if row else 0
        _check_known(found, SQLITE_LATEST)
        for step in SQLITE_STEPS:
            if step.version > found:
                if isinstance(step.apply, str):
                    for statement in _statements(step.apply):
                        connection.execute(statement)
                else:
                    step.apply(connection)
        connection.execute("DELETE FROM schema_version")
        connection.execute("INSERT INTO schema_version (version) VALUES (?)", (SQLITE_LATEST,))
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
    return found


# any fixed number: the lock only has to be the same one in every gateway
MIGRATION_LOCK = 0x6D6375_01


def migrate_postgres(connection: Any) -> int:
    """Bring a PostgreSQL store (a psycopg connection) to POSTGRES_LATEST in one transaction
    under an advisory lock; the version it was at before (0: new)."""
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = connection.execute("SELECT version FROM schema_version").fetchone()
        found = row[0] if row else 0
        _check_known(found, POSTGRES_LATEST)
        for step in POSTGRES_STEPS:
            if step.version > found:
                if isinstance(step.apply, str):
                    connection.execute(step.apply)
                else:
                    step.apply(connection)
        connection.execute("DELETE FROM schema_version")
        connection.execute(
            "INSERT INTO schema_version (version) VALUES (%s)", (POSTGRES_LATEST,))
    return found


def _statements(script: str) -> list[str]:
    """The statements of a step's script (sqlite3's execute runs one at a time, and
    executescript would commit the open transaction)."""
    return [part.strip() for part in script.split(";") if part.strip()]
