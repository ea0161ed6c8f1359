"""The scheduler's SQLite store (the default; mcu/store_api.py is the contract it keeps, and
mcu/store_postgres.py the PostgreSQL store beside it): conferences, the site directory (each
site with the id of its organization in the column org_id), free/busy tombstones and the
counters (revision, conference ids). The schema is versioned (mcu/store_migrations.py).

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
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mcu.model import (
    Conference,
    ConferenceSpec,
    DialingMode,
    DirectorySite,
    Frequency,
    MediaEncryptType,
    Occurrence,
    Presentation,
    RecurrenceRule,
    SiteFrom,
    SiteSpec,
    SiteType,
    VideoFormat,
    VideoProtocol,
)
from mcu.store_migrations import migrate_sqlite


def _utc_key(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


@dataclass
class ConferenceRecord:
    """A conference plus, per occurrence (same order) and per site URI, the revision at
    which that busy entry last changed: what synchSiteStatusEx reports as changed."""

    conference: Conference
    site_revisions: list[dict[str, int]]


@dataclass(frozen=True)
class Tombstone:
    """A busy entry that disappeared (conference/occurrence deleted, site removed, moved)."""

    uri: str
    conf_id: str
    conf_name: str
    begin: datetime
    span: timedelta
    revision: int


@dataclass
class StoredState:
    counters: dict[str, int] = field(default_factory=dict)
    conferences: list[ConferenceRecord] = field(default_factory=list)
    directory: list[DirectorySite] = field(default_factory=list)
    tombstones: list[Tombstone] = field(default_factory=list)


class Transaction:
    """The writes of one scheduler operation; committed together or not at all."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def counter(self, name: str) -> int | None:
        return _counter(self._connection, name)

    def load(self) -> StoredState:
        return _load(self._connection)

    def load_since(self, revision: int) -> StoredState:
        return _load(self._connection, since=revision)

    def set_counter(self, name: str, value: int) -> None:
        self._connection.execute(
            "INSERT INTO meta (name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    def put_conference(self, record: ConferenceRecord, revision: int) -> None:
        self._connection.execute(
            "INSERT INTO conferences (conf_id, document, revision) VALUES (?, ?, ?) "
            "ON CONFLICT(conf_id) DO UPDATE SET document = excluded.document, "
            "revision = excluded.revision",
            (record.conference.conf_id, json.dumps(record_to_json(record)), revision),
        )

    def add_tombstone(self, tombstone: Tombstone) -> None:
        self._connection.execute(
            "INSERT INTO tombstones (uri, conf_id, conf_name, begin, span_us, revision) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                tombstone.uri,
                tombstone.conf_id,
                tombstone.conf_name,
                tombstone.begin.isoformat(),
                _micros(tombstone.span),
                tombstone.revision,
            ),
        )

    def delete_tombstone(self, tombstone: Tombstone) -> None:
        self._connection.execute(
            "DELETE FROM tombstones WHERE uri = ? AND conf_id = ? AND begin = ? AND revision = ?",
            (tombstone.uri, tombstone.conf_id, tombstone.begin.isoformat(), tombstone.revision),
        )

    def put_directory_site(self, site: DirectorySite) -> None:
        self._connection.execute(
            "INSERT INTO directory (uri, document, org_id) VALUES (?, ?, ?) "
            "ON CONFLICT(uri) DO UPDATE SET document = excluded.document, "
            "org_id = excluded.org_id",
            (site.uri, json.dumps(directory_site_to_json(site)), site.org_id),
        )

    def delete_directory_site(self, uri: str) -> None:
        self._connection.execute("DELETE FROM directory WHERE uri = ?", (uri,))


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
    def transaction(self) -> Iterator[Transaction]:
        """One transaction; an exception inside rolls every write of it back."""
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield Transaction(self._connection)
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
            return _counter(self._connection, name)

    def load(self) -> StoredState:
        with self._lock:
            return _load(self._connection)

    def load_since(self, revision: int) -> StoredState:
        with self._lock:
            return _load(self._connection, since=revision)


def _counter(connection: sqlite3.Connection, name: str) -> int | None:
    row = connection.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
    return None if row is None else int(row[0])


def _load(connection: sqlite3.Connection, since: int = -1) -> StoredState:
    """Everything; or with `since`, what changed after that revision: the conferences and
    tombstones written after it, with the counters and the whole directory."""
    state = StoredState()
    for name, value in connection.execute("SELECT name, value FROM meta"):
        state.counters[name] = value
    for (document,) in connection.execute(
        "SELECT document FROM conferences WHERE revision > ? ORDER BY CAST(conf_id AS INTEGER)",
        (since,),
    ):
        state.conferences.append(record_from_json(json.loads(document)))
    for document, org_id in connection.execute(
        "SELECT document, org_id FROM directory ORDER BY uri"
    ):
        site = directory_site_from_json(json.loads(document))
        state.directory.append(replace(site, org_id=org_id))
    for uri, conf_id, conf_name, begin, span_us, revision in connection.execute(
        "SELECT uri, conf_id, conf_name, begin, span_us, revision FROM tombstones "
        "WHERE revision > ? ORDER BY id", (since,)
    ):
        state.tombstones.append(
            Tombstone(uri, conf_id, conf_name, datetime.fromisoformat(begin),
                      timedelta(microseconds=span_us), revision)
        )
    return state


# -- JSON codec ---------------------------------------------------------------------------


def _micros(span: timedelta) -> int:
    return span // timedelta(microseconds=1)


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def _enum_value(value: Any) -> int | None:
    return int(value) if value is not None else None


def _enum(kind: Any, value: int | None) -> Any:
    return kind(value) if value is not None else None


def site_to_json(site: SiteSpec) -> dict[str, Any]:
    return {
        "uri": site.uri,
        "name": site.name,
        "type": int(site.type),
        "from": int(site.from_),
        "dialing_mode": int(site.dialing_mode),
        "rate": site.rate,
        "video_format": _enum_value(site.video_format),
        "video_protocol": _enum_value(site.video_protocol),
        "is_lock_video_source": site.is_lock_video_source,
        "participant_type": site.participant_type,
    }


def site_from_json(data: dict[str, Any]) -> SiteSpec:
    return SiteSpec(
        uri=data["uri"],
        name=data["name"],
        type=SiteType(data["type"]),
        from_=SiteFrom(data["from"]),
        dialing_mode=DialingMode(data["dialing_mode"]),
        rate=data["rate"],
        video_format=_enum(VideoFormat, data["video_format"]),
        video_protocol=_enum(VideoProtocol, data["video_protocol"]),
        is_lock_video_source=data["is_lock_video_source"],
        participant_type=data["participant_type"],
    )


def spec_to_json(spec: ConferenceSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "begin": spec.begin.isoformat(),
        "duration_us": _micros(spec.duration),
        "sites": [site_to_json(site) for site in spec.sites],
        "access_code": spec.access_code,
        "password": spec.password,
        "chairman_password": spec.chairman_password,
        "media_encrypt_type": int(spec.media_encrypt_type),
        "aux_video_format": _enum_value(spec.aux_video_format),
        "aux_video_protocol": _enum_value(spec.aux_video_protocol),
        "cp_resource": spec.cp_resource,
        "rate": spec.rate,
        "is_recording": spec.is_recording,
        "recorder_addr": spec.recorder_addr,
        "is_live_broadcast": spec.is_live_broadcast,
        "presentation": int(spec.presentation),
        "bill_code": spec.bill_code,
        "main_site_uri": spec.main_site_uri,
    }


def spec_from_json(data: dict[str, Any]) -> ConferenceSpec:
    return ConferenceSpec(
        name=data["name"],
        begin=datetime.fromisoformat(data["begin"]),
        duration=timedelta(microseconds=data["duration_us"]),
        sites=[site_from_json(site) for site in data["sites"]],
        access_code=data["access_code"],
        password=data["password"],
        chairman_password=data["chairman_password"],
        media_encrypt_type=MediaEncryptType(data["media_encrypt_type"]),
        aux_video_format=_enum(VideoFormat, data["aux_video_format"]),
        aux_video_protocol=_enum(VideoProtocol, data["aux_video_protocol"]),
        cp_resource=data["cp_resource"],
        rate=data["rate"],
        is_recording=data["is_recording"],
        recorder_addr=data["recorder_addr"],
        is_live_broadcast=data["is_live_broadcast"],
        presentation=Presentation(data["presentation"]),
        bill_code=data["bill_code"],
        main_site_uri=data["main_site_uri"],
    )


def rule_to_json(rule: RecurrenceRule) -> dict[str, Any]:
    return {
        "frequency": int(rule.frequency),
        "interval": rule.interval,
        "week_days": list(rule.week_days),
        "week_day": rule.week_day,
        "month_day": rule.month_day,
        "count": rule.count,
        "end_date": _time(rule.end_date),
        "time_zone": rule.time_zone,
    }


def rule_from_json(data: dict[str, Any]) -> RecurrenceRule:
    return RecurrenceRule(
        frequency=Frequency(data["frequency"]),
        interval=data["interval"],
        week_days=list(data["week_days"]),
        week_day=data["week_day"],
        month_day=data["month_day"],
        count=data["count"],
        end_date=_parse_time(data["end_date"]),
        time_zone=data["time_zone"],
    )


def record_to_json(record: ConferenceRecord) -> dict[str, Any]:
    conference = record.conference
    return {
        "conf_id": conference.conf_id,
        "spec": spec_to_json(conference.spec),
        "access_code": conference.access_code,
        "password": conference.password,
        "chairman_password": conference.chairman_password,
        "recurrence": rule_to_json(conference.recurrence) if conference.recurrence else None,
        "deleted": conference.deleted,
        "adhoc_template": conference.adhoc_template,
        "creator": conference.creator,
        "occurrences": [
            {
                "begin": occurrence.begin.isoformat(),
                "duration_us": _micros(occurrence.duration),
                "name": occurrence.name,
                "sites": [site_to_json(site) for site in occurrence.sites],
                "site_revisions": revisions,
            }
            for occurrence, revisions in zip(
                conference.occurrences, record.site_revisions, strict=True
            )
        ],
    }


def record_from_json(data: dict[str, Any]) -> ConferenceRecord:
    occurrences = [
        Occurrence(
            begin=datetime.fromisoformat(item["begin"]),
            duration=timedelta(microseconds=item["duration_us"]),
            sites=[site_from_json(site) for site in item["sites"]],
            name=item["name"],
        )
        for item in data["occurrences"]
    ]
    conference = Conference(
        conf_id=data["conf_id"],
        spec=spec_from_json(data["spec"]),
        access_code=data["access_code"],
        password=data["password"],
        chairman_password=data["chairman_password"],
        recurrence=rule_from_json(data["recurrence"]) if data["recurrence"] else None,
        occurrences=occurrences,
        deleted=data["deleted"],
        adhoc_template=data.get("adhoc_template"),  # absent in documents of older versions
        creator=data.get("creator", ""),  # likewise: a booking stored before creators were kept
    )
    revisions = [dict(item["site_revisions"]) for item in data["occurrences"]]
    return ConferenceRecord(conference, revisions)


def directory_site_to_json(site: DirectorySite) -> dict[str, Any]:
    return {
        "uri": site.uri,
        "name": site.name,
        "type": int(site.type),
        "rate": site.rate,
        "video_format": _enum_value(site.video_format),
        "video_protocol": _enum_value(site.video_protocol),
    }


def directory_site_from_json(data: dict[str, Any]) -> DirectorySite:
    return DirectorySite(
        uri=data["uri"],
        name=data["name"],
        type=SiteType(data["type"]),
        rate=data["rate"],
        video_format=_enum(VideoFormat, data["video_format"]),
        video_protocol=_enum(VideoProtocol, data["video_protocol"]),
    )
