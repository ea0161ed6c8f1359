"""The domain model: conferences, sites, recurrence rules and the enumerations of WS/T 546.

Values are the wire values of the eSDK numbering where the standard has a numbering; the
gateway translates VideoFormat/VideoProtocol when it is set to the standard's numbering.
Times are timezone-aware datetimes; durations are timedeltas.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum

from mcu.errors import DomainError, Fault

# defined beside the rule that applies it (rtp/encryption_policy.py), which the simulated SIP
# room systems share; the domain's name for it stays importable from here
from rtp.encryption_policy import MediaEncryptType as MediaEncryptType


class VideoFormat(IntEnum):
    """eSDK numbering (the domain's own); WS/T 546 numbers 4CIF..1080P60 from 0.

    15..19 are this MCU's extension numbers, the same in both numberings: the formats of the
    standard's section 5 (720P25/50, 1080P25/50, 1080i50) that neither table numbers
    (docs/gateway.md, "Formats, protocols and encryption honoured"). I108 is 1080i60.
    """

    AUTO = 0
    CIF4 = 1
    HD720P30 = 2
    HD1080P30 = 3
    P480 = 4
    HD720P60 = 5
    HD1080P60 = 6
    QCIF = 7
    CIF = 8
    SQCIF = 9
    CIF2 = 10
    I108 = 11
    I480 = 12
    P360 = 13
    VGA = 14
    HD720P25 = 15
    HD720P50 = 16
    HD1080P25 = 17
    HD1080P50 = 18
    I108_50 = 19


class VideoProtocol(IntEnum):
    """eSDK numbering; WS/T 546 numbers H.261..H.264 from 0."""

    AUTO = 0
    H261 = 1
    H263 = 2
    H264 = 3
    H264_HP = 4
    H265 = 5


class SiteType(IntEnum):
    INVALID = 0
    AUTO = 1
    E1 = 2
    ISDN = 3
    H323 = 4
    PSTN = 5
    E1X4 = 6
    SIP = 7
    VOIP_SIP = 8
    VOIP_H323 = 9


class SiteFrom(IntEnum):
    INTERNAL = 0
    EXTERNAL = 1


class DialingMode(IntEnum):
    MCU_CALLS_SITE = 0
    SITE_CALLS_IN = 1


class Presentation(IntEnum):
    FILM = 0  # "胶片演示方式"
    LIVE_VIDEO = 1
    DUAL_STREAM = 2


class Frequency(IntEnum):
    DAILY = 0
    WEEKLY = 1
    MONTHLY = 2


class SiteCallState(IntEnum):
    """SiteStatusEx.status."""

    UNKNOWN = 0
    NOT_EXIST = 1
    IN_CONFERENCE = 2
    NOT_JOINED = 3
    CALLING = 4
    RINGING = 5


class ConferenceState(IntEnum):
    """ConferenceStatusEx.status."""

    UNKNOWN = 0
    NOT_EXIST = 1
    SCHEDULED = 2
    ONGOING = 3
    NO_PERMISSION = 4
    ENDED = 5


class FreeBusy(IntEnum):
    """FreeBusyStateEx.state."""

    FREE = 0
    BUSY = 1
    UNKNOWN_SITE = 2


ALLOWED_CP_RESOURCES = frozenset({2, 3, 4, 5, 6, 7, 8, 9, 10, 13, 16, 20, 24})


@dataclass
class SiteSpec:
    """A site as booked into a conference (SiteInfoEx)."""

    uri: str
    name: str = ""
    type: SiteType = SiteType.SIP
    from_: SiteFrom = SiteFrom.INTERNAL
    dialing_mode: DialingMode = DialingMode.MCU_CALLS_SITE
    rate: str | None = None
    video_format: VideoFormat | None = None
    video_protocol: VideoProtocol | None = None
    is_lock_video_source: int | None = None
    participant_type: int | None = None


@dataclass
class DirectorySite:
    """An entry of the site directory (querySitesEx / *SiteInfoEx): sites the platform knows."""

    uri: str
    name: str
    type: SiteType = SiteType.SIP
    rate: str | None = None
    video_format: VideoFormat | None = None
    video_protocol: VideoProtocol | None = None
    org_id: str | None = None  # its organization (mcu/organizations.py); None: not recorded


@dataclass
class RecurrenceRule:
    """RecurrenceConfInfoEx's rule. week_days: 0=Sunday..6=Saturday. When both count and
    end_date are given, the rule yielding fewer occurrences wins."""

    frequency: Frequency
    interval: int = 1
    week_days: list[int] = field(default_factory=list)
    week_day: int = 0  # monthly: which week of the month (1..5); 0 = unused
    month_day: int = 0  # monthly: day of the month (1..31); 0 = unused
    count: int = 0  # 0 = unbounded by count
    end_date: datetime | None = None
    time_zone: str | None = None  # IANA name (e.g. "Asia/Shanghai") or a UTC offset "+08:00"


@dataclass
class ConferenceSpec:
    """What a client asks for when scheduling or editing (ConferenceInfoEx minus server fields)."""

    name: str
    begin: datetime
    duration: timedelta
    sites: list[SiteSpec] = field(default_factory=list)
    access_code: str | None = None
    password: str | None = None
    chairman_password: str | None = None
    media_encrypt_type: MediaEncryptType = MediaEncryptType.AUTO
    aux_video_format: VideoFormat | None = None
    aux_video_protocol: VideoProtocol | None = None
    cp_resource: int = 4
    rate: str | None = None
    is_recording: int = 1
    recorder_addr: str | None = None
    is_live_broadcast: int = 1
    presentation: Presentation = Presentation.FILM
    bill_code: str | None = None
    main_site_uri: str | None = None


@dataclass
class Occurrence:
    """One instance in time of a conference (a plain conference has exactly one)."""

    begin: datetime
    duration: timedelta  # including prolongations
    sites: list[SiteSpec]
    name: str

    def __post_init__(self) -> None:
        # a begin or duration so large that the end is past datetime's range (year 9999)
        # is the client's bad value, not a server error
        try:
            self.begin + self.duration
        except OverflowError:
            raise DomainError(
                Fault.BAD_TIME, f"an occurrence at {self.begin} lasting {self.duration} never ends"
            ) from None

    @property
    def end(self) -> datetime:
        return self.begin + self.duration


@dataclass
class Conference:
    """A booked conference as the scheduler holds it."""

    conf_id: str
    spec: ConferenceSpec
    access_code: str
    password: str
    chairman_password: str
    recurrence: RecurrenceRule | None
    occurrences: list[Occurrence]
    deleted: bool = False
    # the access code of the ad-hoc template it was started from (mcu/adhoc.py), or None
    adhoc_template: str | None = None
    # who booked it: the account of the session that scheduled it, the template's name for
    # one started from an ad-hoc template, "" for one stored before creators were kept
    creator: str = ""


@dataclass
class BusyInterval:
    """One entry of a site's free/busy answer (FreeBusyStateEx)."""

    start: datetime
    span: timedelta
    state: FreeBusy
    conf_id: str | None = None
    conf_name: str | None = None
