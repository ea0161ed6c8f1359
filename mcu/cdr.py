"""Call detail records: one per real call, written when the call ends.

A multipoint record is one site's call in one conference (dial-out or dial-in); a
point-to-point record is one call between two registered terminals that the platform
relayed (mcu/p2p_calls.py). Each keeps when the call was placed, when it was answered (None
if it never was), when it ended, the rate, what the media negotiated and why it ended: the
SMC failure code and text of a failed call (mcu/calls.py CallFailure), 0 and the hang-up
reason of a call that was in progress.

`CallRecords` writes them to the SQLite store (mcu/store.py, table call_records) at the
moment the call ends and answers the CDR queries from it: records whose start lies in
[begin, begin + duration), optionally of one site, oldest first, one page at a time.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum
from typing import Any

from mcu.booking_rules import window
from mcu.errors import DomainError, Fault
from mcu.events import ErrorInfo
from mcu.model import SiteType
from mcu.store_api import SchedulerStore, StoreWriteError

log = logging.getLogger(__name__)


class Direction(IntEnum):
    """Who placed a multipoint call."""

    DIAL_OUT = 0  # the MCU called the site (connectSitesEx, conference start)
    DIAL_IN = 1  # the site called the conference (signalling `join`)


class RecordKind(StrEnum):
    MULTIPOINT = "multipoint"
    POINT_TO_POINT = "p2p"


@dataclass(frozen=True)
class NegotiatedMedia:
    """What a call's media settled on, reported by the media side (an Endpoint) onto the
    Call: codecs by RTP name ("H264", "OPUS"), the video format the site receives
    ("1280x720@30", None when unknown) and its rate in kbit/s (None when unknown); the H.264
    profile the MCU sends ("constrained-baseline", "high"; None for other codecs); the media
    protection (rtp/encryption_policy.py MediaSecurity: "DTLS-SRTP", "SDES-SRTP", "RTP") and
    whether the site was exempt from the booking's mediaEncryptType 2 (a WebRTC site, which
    cannot send unencrypted media). Records written before these fields read them as None
    and False."""

    audio_codec: str | None = None
    video_codec: str | None = None
    video_format: str | None = None
    rate_kbps: int | None = None
    video_profile: str | None = None
    encryption: str | None = None
    encryption_exempt: bool = False


@dataclass(frozen=True)
class CallEnd:
    """Why a call ended: code 0 for a call that was in progress and was hung up, else the
    call failure code of its callFailedReason (mcu.calls.CallFailure: 109 offline, 115
    rejected, 116 network, 117 busy, 118 ICE, 129 no answer, 12378 DTLS, 131088 no common
    codec)."""

    code: int
    reason: str

    @classmethod
    def of(cls, failure: ErrorInfo | None, hang_up_reason: str = "hang up") -> CallEnd:
        if failure is None:
            return cls(0, hang_up_reason)
        return cls(failure.code, failure.description)


@dataclass(frozen=True)
class CallTimes:
    placed: datetime
    answered: datetime | None
    ended: datetime

    @property
    def start(self) -> datetime:
        """The record's startTime: when the call was answered, else when it was placed."""
        return self.answered if self.answered is not None else self.placed

    @property
    def duration(self) -> timedelta:
        """Time in the call: zero for one never answered."""
        return self.ended - self.answered if self.answered is not None else timedelta(0)


@dataclass(frozen=True)
class MultiPointRecord:
    conf_id: str
    conf_name: str
    conf_creator: str  # who booked the conference (Conference.creator)
    bill_code: str
    site_uri: str
    site_name: str
    site_type: SiteType
    participant_type: int
    direction: Direction
    rate: str
    times: CallTimes
    media: NegotiatedMedia
    end: CallEnd


@dataclass(frozen=True)
class PointToPointRecord:
    call_id: str
    calling_uri: str
    calling_type: SiteType
    called_uri: str
    called_type: SiteType
    rate: str
    times: CallTimes
    media: NegotiatedMedia
    end: CallEnd


Record = MultiPointRecord | PointToPointRecord


@dataclass(frozen=True)
class RecordPage:
    records: list[Any]
    total_pages: int
    current_page: int
    total_records: int


class CallRecords:
    """Writes call detail records to the store and answers the CDR queries from it."""

    def __init__(self, store: SchedulerStore) -> None:
        self.store = store

    def record(self, record: Record) -> None:
        """Store the record. A store that fails is logged, not raised: a disk problem never
        turns a hang-up into an error."""
        try:
            if isinstance(record, MultiPointRecord):
                self.store.add_call_record(
                    RecordKind.MULTIPOINT.value, record.times.start, (record.site_uri,),
                    _to_json(record))
            else:
                self.store.add_call_record(
                    RecordKind.POINT_TO_POINT.value, record.times.start,
                    (record.calling_uri, record.called_uri), _to_json(record))
        except (sqlite3.Error, StoreWriteError):
            log.exception("call detail record not written: %r", record)

    def multipoint(self, begin: datetime, duration: timedelta, site_uri: str | None,
                   per_page: int, page: int,
                   conf_ids: Collection[str] | None = None) -> RecordPage:
        """Multipoint records that started in the window, of site_uri if given, of one of
        conf_ids if given (mcu/ownership.py visible_ids)."""
        return self._page(RecordKind.MULTIPOINT, begin, duration, site_uri, per_page, page,
                          conf_ids)

    def point_to_point(self, begin: datetime, duration: timedelta, site_uri: str | None,
                       per_page: int, page: int,
                       conf_ids: Collection[str] | None = None) -> RecordPage:
        """Point-to-point records that started in the window, with site_uri at either end
        if given. They belong to no conference: given conf_ids (whatever they are), none."""
        return self._page(RecordKind.POINT_TO_POINT, begin, duration, site_uri, per_page, page,
                          conf_ids)

    def _page(self, kind: RecordKind, begin: datetime, duration: timedelta,
              site_uri: str | None, per_page: int, page: int,
              conf_ids: Collection[str] | None) -> RecordPage:
        begin, end = window(begin, duration)
        if per_page < 1:
            raise DomainError(Fault.OUT_OF_RANGE, f"numberPerPage {per_page} < 1")
        if page < 1:
            raise DomainError(Fault.OUT_OF_RANGE, f"currentPage {page} < 1")
        total, documents = self.store.call_records(
            kind.value, begin, end, site_uri, per_page, (page - 1) * per_page, conf_ids)
        decode = _multipoint_from_json if kind is RecordKind.MULTIPOINT else _p2p_from_json
        return RecordPage([decode(document) for document in documents],
                          -(-total // per_page), page, total)


# -- JSON codec (the store keeps one document per record) ---------------------------------


def _times_json(times: CallTimes) -> dict[str, Any]:
    return {
        "placed": times.placed.isoformat(),
        "answered": times.answered.isoformat() if times.answered else None,
        "ended": times.ended.isoformat(),
    }


def _times(data: dict[str, Any]) -> CallTimes:
    answered = data["answered"]
    return CallTimes(datetime.fromisoformat(data["placed"]),
                     datetime.fromisoformat(answered) if answered else None,
                     datetime.fromisoformat(data["ended"]))


def _media_json(media: NegotiatedMedia) -> dict[str, Any]:
    return {"audio_codec": media.audio_codec, "video_codec": media.video_codec,
            "video_format": media.video_format, "rate_kbps": media.rate_kbps,
            "video_profile": media.video_profile, "encryption": media.encryption,
            "encryption_exempt": media.encryption_exempt}


def _to_json(record: Record) -> dict[str, Any]:
    common = {
        "rate": record.rate,
        "times": _times_json(record.times),
        "media": _media_json(record.media),
        "end": {"code": record.end.code, "reason": record.end.reason},
    }
    if isinstance(record, MultiPointRecord):
        return {
            **common,
            "conf_id": record.conf_id, "conf_name": record.conf_name,
            "conf_creator": record.conf_creator,
            "bill_code": record.bill_code, "site_uri": record.site_uri,
            "site_name": record.site_name, "site_type": int(record.site_type),
            "participant_type": record.participant_type,
            "direction": int(record.direction),
        }
    return {
        **common,
        "call_id": record.call_id,
        "calling_uri": record.calling_uri, "calling_type": int(record.calling_type),
        "called_uri": record.called_uri, "called_type": int(record.called_type),
    }


def _multipoint_from_json(data: dict[str, Any]) -> MultiPointRecord:
    return MultiPointRecord(
        conf_id=data["conf_id"], conf_name=data["conf_name"],
        conf_creator=data.get("conf_creator", ""),  # absent in records of older versions
        bill_code=data["bill_code"],
        site_uri=data["site_uri"], site_name=data["site_name"],
        site_type=SiteType(data["site_type"]), participant_type=data["participant_type"],
        direction=Direction(data["direction"]), rate=data["rate"],
        times=_times(data["times"]), media=NegotiatedMedia(**data["media"]),
        end=CallEnd(**data["end"]),
    )


def _p2p_from_json(data: dict[str, Any]) -> PointToPointRecord:
    return PointToPointRecord(
        call_id=data["call_id"],
        calling_uri=data["calling_uri"], calling_type=SiteType(data["calling_type"]),
        called_uri=data["called_uri"], called_type=SiteType(data["called_type"]),
        rate=data["rate"], times=_times(data["times"]),
        media=NegotiatedMedia(**data["media"]), end=CallEnd(**data["end"]),
    )
