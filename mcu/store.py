"""The scheduler's SQLite store (the default; mcu/store_api.py is the contract it keeps, and
mcu/store_postgres.py the PostgreSQL store beside it): conferences, the site directory (each
site with the id of its organization in the column org_id), free/busy tombstones and the
counters (revision, conference ids). The schema is versioned (mcu/store_migrations.py); the
documents kept are mcu/store_documents.py, the scheduler's statements mcu/store_transaction.py
(shared with the PostgreSQL store, in the SQLite dialect here).

WAL mode, synchronous=FULL, and one explicit transaction per scheduler operation, so a
process killed with SIGKILL right after answering still has that answer on disk. A
conference is kept as one JSON document (its spec, rule and every occurrence with its own
edits and prolongations): it is always read and written whole, and one row per conference
makes "the operation committed or it did not" trivially true.

One process owns an SQLite store (shared = False): several gateways share one PostgreSQL
store instead (docs/deployment.md).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from mcu.store_documents import StoredState, _utc_key
from mcu.store_migrations import migrate_sqlite
from mcu.store_transaction import SQLITE, SqlTransaction, load_state, read_counter


class Store:
    shared = False  # one process owns an SQLite file

    def __init__(self, path: str | Path) -> None:
        self._lock = threading.Lock()
        # Transactions are opened explicitly (BEGIN IMMEDIATE), hence isolation_level=None.
        self._connection = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=FULL")
        migrate_sqlite(self._connection)

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    @contextmanager
    def transaction(self) -> Iterator[SqlTransaction]:
        """One transaction; an exception inside rolls every write of it back."""
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield SqlTransaction(self._connection, SQLITE)
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")

    def add_call_record(
        self, kind: str, start: datetime, uris: tuple[str, ...], document: dict[str, Any]
    ) -> None:
        """One call detail record (mcu/cdr.py), committed before this returns. uris: the
        site of a multipoint record, or caller and callee of a point-to-point one."""
        uri_b = uris[1] if len(uris) > 1 else None
        with self.transaction():
            self._connection.execute(
                "INSERT INTO call_records (kind, start, uri_a, uri_b, document) "
                "VALUES (?, ?, ?, ?, ?)",
                (kind, _utc_key(start), uris[0], uri_b, json.dumps(document)),
            )

    def call_records(
        self, kind: str, begin: datetime, end: datetime, uri: str | None,
        limit: int, offset: int, conf_ids: Collection[str] | None = None,
    ) -> tuple[int, list[dict[str, Any]]]:
        """(how many records of `kind` started in [begin, end) with `uri` at either end if
        given, and of one of `conf_ids` if given (a record of no conference, point to
        point, is then never one), the documents of `limit` of them from `offset` on,
        oldest first)."""
        where = "kind = ? AND start >= ? AND start < ?"
        args: list[Any] = [kind, _utc_key(begin), _utc_key(end)]
        if uri is not None:
            where += " AND (uri_a = ? OR uri_b = ?)"
            args += [uri, uri]
        if conf_ids is not None:
            where += " AND json_extract(document, '$.conf_id') IN (SELECT value FROM json_each(?))"
            args.append(json.dumps(sorted(conf_ids)))
        with self._lock:
            (total,) = self._connection.execute(
                f"SELECT COUNT(*) FROM call_records WHERE {where}", args).fetchone()
            rows = self._connection.execute(
                f"SELECT document FROM call_records WHERE {where} ORDER BY start, id "
                "LIMIT ? OFFSET ?", [*args, limit, offset]).fetchall()
        return total, [json.loads(document) for (document,) in rows]

    def set_recording(self, conf_id: str, recording: bool) -> None:
        """Whether the conference is being recorded, committed before this returns."""
        with self.transaction():
            if recording:
                self._connection.execute(
                    "INSERT OR IGNORE INTO recording_conferences (conf_id) VALUES (?)", (conf_id,))
            else:
                self._connection.execute(
                    "DELETE FROM recording_conferences WHERE conf_id = ?", (conf_id,))

    def recording_conferences(self) -> set[str]:
        with self._lock:
            rows = self._connection.execute("SELECT conf_id FROM recording_conferences").fetchall()
        return {conf_id for (conf_id,) in rows}

    def set_live(self, conf_id: str, token: str | None) -> None:
        """The conference's live broadcast and its player token (None: not broadcasting),
        committed before this returns."""
        with self.transaction():
            if token is not None:
                self._connection.execute(
                    "INSERT OR REPLACE INTO live_conferences (conf_id, token) VALUES (?, ?)",
                    (conf_id, token))
            else:
                self._connection.execute(
                    "DELETE FROM live_conferences WHERE conf_id = ?", (conf_id,))

    def live_conferences(self) -> dict[str, str]:
        """confId -> player token of every conference broadcast live."""
        with self._lock:
            rows = self._connection.execute(
                "SELECT conf_id, token FROM live_conferences").fetchall()
        return dict(rows)

    def counter(self, name: str) -> int | None:
        with self._lock:
            return read_counter(self._connection, SQLITE, name)

    def load(self) -> StoredState:
        with self._lock:
            return load_state(self._connection, SQLITE)

    def load_since(self, revision: int) -> StoredState:
        with self._lock:
            return load_state(self._connection, SQLITE, since=revision)
