"""What the scheduler's stores keep, as data: a conference with its site revisions, a
tombstone, the whole stored state, and the JSON documents a conference and a directory site
are kept as. The same in the SQLite store (mcu/store.py) and the PostgreSQL store
(mcu/store_postgres.py); the SQL both run is mcu/store_transaction.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
