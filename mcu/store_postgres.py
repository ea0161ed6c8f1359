"""The scheduler's PostgreSQL store (psycopg 3, synchronous like the SQLite store it stands
beside): the same tables, documents and semantics as mcu/store.py, for several gateways
(processes, machines) that serve one platform from one database ([store] url =
"postgresql://...", docs/deployment.md).

The transaction rule (mcu/store_api.py): each transaction first takes one transaction-scoped
advisory lock (pg_advisory_xact_lock), so the scheduler operations of every gateway run one
after another; under READ COMMITTED every statement after the lock sees everything committed
before it, so the operation's check of the revision counter, its catching up when another gateway
moved it, its validation and its writes (revision, next conference id, the conference) act on
the newest state. A lock rather than SERIALIZABLE: a scheduler operation validates against
the whole booking index (conflicts, capacity), which would make nearly every pair of
concurrent bookings a serialization failure to retry; the lock makes them wait instead.
Commits are synchronous (synchronous_commit is left on), so an answer given after the commit
survives the gateway's SIGKILL and the database server's crash.

Call records, the recording and live-broadcast rows are single-statement writes (their own
transaction each) and need no lock: their keys do not collide between gateways (a call record
is appended; a conference runs on one gateway).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

import psycopg

from mcu.store_api import StoreWriteError
from mcu.store_documents import StoredState, _utc_key
from mcu.store_migrations import migrate_postgres
from mcu.store_transaction import POSTGRES, SqlTransaction, load_state, read_counter

# any fixed number: every gateway must take the same one
WRITE_LOCK = 0x6D6375_02

T = TypeVar("T")


class PostgresStore:
    shared = True  # other gateways write the same database

    def __init__(self, url: str) -> None:
        self._url = url
        self._lock = threading.Lock()
        self._closed = False
        self._connection: psycopg.Connection[Any] = psycopg.connect(url, autocommit=True)
        try:
            migrate_postgres(self._connection)
        except BaseException:
            self._connection.close()
            raise

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._connection.close()

    def _usable(self) -> psycopg.Connection[Any]:
        """The connection, opened anew when the previous one was lost (the database
        restarted, the connection was cut). Under _lock."""
        if not self._closed and (self._connection.broken or self._connection.closed):
            self._connection = psycopg.connect(self._url, autocommit=True)
        return self._connection

    def _retried(self, action: Callable[[psycopg.Connection[Any]], T]) -> T:
        """`action` on the connection; when it finds the connection lost (cut while idle),
        once more on a new one. Only for what may run twice: reads, idempotent writes, the
        start of a transaction. Under _lock."""
        connection = self._usable()
        try:
            return action(connection)
        except psycopg.OperationalError:
            if not connection.broken:
                raise
        return action(self._usable())

    def _begin(self, connection: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
        connection.execute("BEGIN")
        try:
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
        except BaseException:
            if not connection.broken:
                connection.execute("ROLLBACK")
            raise
        return connection

    @contextmanager
    def transaction(self) -> Iterator[SqlTransaction]:
        """One transaction under the write lock; an exception inside rolls it back."""
        with self._lock:
            # a connection lost while idle is met here, before anything was written: retried
            connection = self._retried(self._begin)
            try:
                yield SqlTransaction(connection, POSTGRES)
            except BaseException:
                if not connection.broken:
                    connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def counter(self, name: str) -> int | None:
        with self._lock:
            return self._retried(lambda connection: read_counter(connection, POSTGRES, name))

    def load(self) -> StoredState:
        return self.load_since(-1)

    def load_since(self, revision: int) -> StoredState:
        """As mcu/store.py: everything (revision -1), or what changed after `revision`."""
        def load(connection: psycopg.Connection[Any]) -> StoredState:
            with connection.transaction():  # one snapshot for every table read
                connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                return load_state(connection, POSTGRES, since=revision)

        with self._lock:
            return self._retried(load)

    def add_call_record(
        self, kind: str, start: datetime, uris: tuple[str, ...], document: dict[str, Any]
    ) -> None:
        """One call detail record, committed before this returns (mcu/store.py's contract);
        StoreWriteError when it cannot be. A connection found cut is retried once, like the
        other writes: a record is then written twice only if the connection broke between
        the insert's commit and its acknowledgement."""
        uri_b = uris[1] if len(uris) > 1 else None
        values = (kind, _utc_key(start), uris[0], uri_b, json.dumps(document))
        with self._lock:
            try:
                self._retried(lambda connection: connection.execute(
                    "INSERT INTO call_records (kind, start, uri_a, uri_b, document) "
                    "VALUES (%s, %s, %s, %s, %s)", values))
            except psycopg.Error as error:
                raise StoreWriteError(f"call detail record not written: {error}") from error

    def call_records(
        self, kind: str, begin: datetime, end: datetime, uri: str | None,
        limit: int, offset: int, conf_ids: Collection[str] | None = None,
    ) -> tuple[int, list[dict[str, Any]]]:
        """As mcu/store.py Store.call_records."""
        where = "kind = %s AND start >= %s AND start < %s"
        args: list[Any] = [kind, _utc_key(begin), _utc_key(end)]
        if uri is not None:
            where += " AND (uri_a = %s OR uri_b = %s)"
            args += [uri, uri]
        if conf_ids is not None:
            where += " AND document->>'conf_id' = ANY(%s)"
            args.append(sorted(conf_ids))
        def query(connection: psycopg.Connection[Any]) -> tuple[int, list[dict[str, Any]]]:
            with connection.transaction():
                connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                row = connection.execute(
                    f"SELECT COUNT(*) FROM call_records WHERE {where}", args).fetchone()
                rows = connection.execute(
                    f"SELECT document FROM call_records WHERE {where} ORDER BY start, id "
                    "LIMIT %s OFFSET %s", [*args, limit, offset]).fetchall()
            return (row[0] if row else 0), [document for (document,) in rows]

        with self._lock:
            return self._retried(query)

    def set_recording(self, conf_id: str, recording: bool) -> None:
        if recording:
            statement = ("INSERT INTO recording_conferences (conf_id) VALUES (%s) "
                         "ON CONFLICT DO NOTHING")
        else:
            statement = "DELETE FROM recording_conferences WHERE conf_id = %s"
        with self._lock:  # idempotent: retried on a lost connection
            self._retried(lambda connection: connection.execute(statement, (conf_id,)))

    def recording_conferences(self) -> set[str]:
        with self._lock:
            rows = self._retried(lambda connection: connection.execute(
                "SELECT conf_id FROM recording_conferences").fetchall())
        return {conf_id for (conf_id,) in rows}

    def set_live(self, conf_id: str, token: str | None) -> None:
        def write(connection: psycopg.Connection[Any]) -> None:
            if token is not None:
                connection.execute(
                    "INSERT INTO live_conferences (conf_id, token) VALUES (%s, %s) "
                    "ON CONFLICT (conf_id) DO UPDATE SET token = excluded.token",
                    (conf_id, token))
            else:
                connection.execute("DELETE FROM live_conferences WHERE conf_id = %s", (conf_id,))

        with self._lock:  # idempotent: retried on a lost connection
            self._retried(write)

    def live_conferences(self) -> dict[str, str]:
        with self._lock:
            rows = self._retried(lambda connection: connection.execute(
                "SELECT conf_id, token FROM live_conferences").fetchall())
        return {conf_id: token for conf_id, token in rows}
