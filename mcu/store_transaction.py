"""The scheduler's transaction and state reads, written once for both stores (mcu/store.py,
SQLite; mcu/store_postgres.py, PostgreSQL): the same statements over the same tables, told
apart only by a small `SqlDialect` (the driver's placeholder, the name of one column, the
integer type of a cast, the collation that orders text bytewise).

Statements are written with `?` placeholders and `{begin}` for the tombstones' begin column;
`SqlDialect.sql` turns them into the driver's form. The stores keep what truly differs: how a
transaction is opened and locked, how a lost connection is retried.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from mcu.model import DirectorySite
from mcu.store_documents import (
    ConferenceRecord,
    StoredState,
    Tombstone,
    _micros,
    directory_site_from_json,
    directory_site_to_json,
    record_from_json,
    record_to_json,
)


class SqlCursor(Protocol):
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class SqlConnection(Protocol):
    """What both drivers' connections offer (sqlite3.Connection, psycopg.Connection)."""

    def execute(self, query: str, params: Sequence[Any], /) -> SqlCursor: ...


@dataclass(frozen=True)
class SqlDialect:
    placeholder: str  # the driver's parameter marker: "?" (sqlite3), "%s" (psycopg)
    begin_column: str  # the tombstones' begin column ("begin" is reserved in PostgreSQL)
    integer_type: str  # the type conference ids are cast to for their numeric order
    bytewise: str  # appended to ORDER BY on text so that it orders bytewise

    def sql(self, statement: str) -> str:
        """`statement` (written with `?` and `{begin}`) in this dialect."""
        return statement.replace("{begin}", self.begin_column).replace("?", self.placeholder)


SQLITE = SqlDialect(placeholder="?", begin_column="begin", integer_type="INTEGER", bytewise="")
POSTGRES = SqlDialect(
    placeholder="%s", begin_column="begin_at", integer_type="BIGINT", bytewise=' COLLATE "C"'
)


class SqlTransaction:
    """The writes of one scheduler operation (mcu/store_api.py StoreTransaction), on a
    connection inside a transaction the store opened; committed together or not at all."""

    def __init__(self, connection: SqlConnection, dialect: SqlDialect) -> None:
        self._connection = connection
        self._dialect = dialect

    def _execute(self, statement: str, params: Sequence[Any]) -> None:
        self._connection.execute(self._dialect.sql(statement), params)

    def counter(self, name: str) -> int | None:
        return read_counter(self._connection, self._dialect, name)

    def load(self) -> StoredState:
        return load_state(self._connection, self._dialect)

    def load_since(self, revision: int) -> StoredState:
        return load_state(self._connection, self._dialect, since=revision)

    def set_counter(self, name: str, value: int) -> None:
        self._execute(
            "INSERT INTO meta (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    def put_conference(self, record: ConferenceRecord, revision: int) -> None:
        self._execute(
            "INSERT INTO conferences (conf_id, document, revision) VALUES (?, ?, ?) "
            "ON CONFLICT (conf_id) DO UPDATE SET document = excluded.document, "
            "revision = excluded.revision",
            (record.conference.conf_id, json.dumps(record_to_json(record)), revision),
        )

    def add_tombstone(self, tombstone: Tombstone) -> None:
        self._execute(
            "INSERT INTO tombstones (uri, conf_id, conf_name, {begin}, span_us, revision) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (tombstone.uri, tombstone.conf_id, tombstone.conf_name, tombstone.begin.isoformat(),
             _micros(tombstone.span), tombstone.revision),
        )

    def delete_tombstone(self, tombstone: Tombstone) -> None:
        self._execute(
            "DELETE FROM tombstones "
            "WHERE uri = ? AND conf_id = ? AND {begin} = ? AND revision = ?",
            (tombstone.uri, tombstone.conf_id, tombstone.begin.isoformat(), tombstone.revision),
        )

    def put_directory_site(self, site: DirectorySite) -> None:
        self._execute(
            "INSERT INTO directory (uri, document, org_id) VALUES (?, ?, ?) "
            "ON CONFLICT (uri) DO UPDATE SET document = excluded.document, "
            "org_id = excluded.org_id",
            (site.uri, json.dumps(directory_site_to_json(site)), site.org_id),
        )

    def delete_directory_site(self, uri: str) -> None:
        self._execute("DELETE FROM directory WHERE uri = ?", (uri,))


def read_counter(connection: SqlConnection, dialect: SqlDialect, name: str) -> int | None:
    row = connection.execute(
        dialect.sql("SELECT value FROM meta WHERE name = ?"), (name,)).fetchone()
    return None if row is None else int(row[0])


def load_state(connection: SqlConnection, dialect: SqlDialect, since: int = -1) -> StoredState:
    """Everything; or with `since`, what changed after that revision: the conferences and
    tombstones written after it, with the counters and the whole directory."""
    state = StoredState()
    for name, value in connection.execute("SELECT name, value FROM meta", ()).fetchall():
        state.counters[name] = int(value)
    for (document,) in connection.execute(
        dialect.sql("SELECT document FROM conferences WHERE revision > ? "
                    f"ORDER BY CAST(conf_id AS {dialect.integer_type})"),
        (since,),
    ).fetchall():
        state.conferences.append(record_from_json(json.loads(document)))
    for document, org_id in connection.execute(
        f"SELECT document, org_id FROM directory ORDER BY uri{dialect.bytewise}", ()
    ).fetchall():
        site = directory_site_from_json(json.loads(document))
        state.directory.append(replace(site, org_id=org_id))
    for uri, conf_id, conf_name, begin, span_us, revision in connection.execute(
        dialect.sql("SELECT uri, conf_id, conf_name, {begin}, span_us, revision FROM tombstones "
                    "WHERE revision > ? ORDER BY id"),
        (since,),
    ).fetchall():
        state.tombstones.append(
            Tombstone(uri, conf_id, conf_name, datetime.fromisoformat(begin),
                      timedelta(microseconds=span_us), int(revision))
        )
    return state
