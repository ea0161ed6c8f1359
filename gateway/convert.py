"""Wire <-> domain conversion of the services' types (gateway/wire.py <-> mcu/model.py, the
runtime's status records and what terminals declare), the value rules every service
shares (flags, optional strings, times, site URI lists). The services import from here;
nothing here calls the MCU.

Inbound (`*_to_domain`) validates what the domain cannot know about the wire: enumeration
ranges (DomainError OUT_OF_RANGE), the Boolean rule and the VideoFormat/VideoProtocol
numbering; members the WSDL marks minOccurs=1 but eSDK's own examples omit get the
standard's defaults. Outbound (`*_to_wire`) writes every member the WSDL requires.

Decisions where the standard is silent:
- Times go out in the offset they were booked with (the client's own offset), so a client
  sees its own wall-clock times back; times that come from the server's clock are UTC. The
  scheduler keeps whole seconds, so no fraction is written.
- A conference's `sites` lists its site list once; `siteAccessInfos` has one entry per site
  and occurrence (the eSDK example repeats `sites` per occurrence, which says nothing more).
- Passwords are written back in the scheduling answer (the platform may have generated
  them, and the booking client is the one who needs them); status answers never carry them.
- A site without busy time in the window answers one FREE state spanning the window
  (SiteFreeBusyStatesEx.states is 1..n).
- Every request passes `check_request` before its service: string members trimmed (but
  wire.KEEPS_SPACES), then every string, binary value and list held to wire.MAX_CHARS,
  MAX_BYTES and MAX_ITEMS (OUT_OF_RANGE, nothing done). dateTime values are read by
  `wire_datetime` (XSD white space collapsed; an instant outside years 1-9999 in UTC or an
  unreadable text is an UnreadableValue, a Client fault naming the member).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

from gateway import wire
from gateway.directory_query import Page
from gateway.enum_numbering import EnumNumbering
from mcu.adhoc import AdhocTemplate
from mcu.cdr import MultiPointRecord, PointToPointRecord, RecordPage
from mcu.endpoints import DeviceVersion, VideoInput
from mcu.errors import DomainError, Fault
from mcu.events import ErrorInfo
from mcu.live_conference import CameraCommand
from mcu.mcu_resources import McuResources
from mcu.mcus import Mcu
from mcu.model import (
    BusyInterval,
    Conference,
    ConferenceSpec,
    DialingMode,
    DirectorySite,
    FreeBusy,
    Frequency,
    MediaEncryptType,
    Occurrence,
    Presentation,
    RecurrenceRule,
    SiteFrom,
    SiteSpec,
    SiteType,
)
from mcu.organizations import Organization
from mcu.runtime import BroadInfo, ConferenceStatus, SiteStatus
from mcu.screens import ScreenShown

# SiteStatusEx.volume when the site is not in the conference, as the reference platform says
NO_VOLUME = 65535
DEFAULT_CP_RESOURCE = cast(int, ConferenceSpec.__dataclass_fields__["cp_resource"].default)
DEFAULT_SITE = SiteSpec(uri="")
SITE_TYPES = frozenset(kind.value for kind in SiteType if kind is not SiteType.INVALID)


# --- values ---------------------------------------------------------------------------------


def flag(value: int | str | None, default: bool) -> bool:
    """WS/T 546 4.2.3's Boolean rule: a value whose text begins with "1" is true, any other
    false; absent -> `default`. (The WSDL carries flags as int, so "" never parses.)"""
    if value is None:
        return default
    return str(value).startswith("1")


def reads_one(value: int | None) -> bool:
    """A confCtrl/siteMgr flag reads as its table's 1 (isMute/isQuiet: not; isBroadcast,
    action, controlCode: stop; isSwitch, isLock: on). Absent optional flags read as 0."""
    return flag(value, default=False)


def flag_to_wire(value: bool | None) -> int | None:
    """1 / 0, or None (the element left out) when there is no value."""
    return None if value is None else int(bool(value))


def enum_value(enum_type, value: int | None, default, field: str):
    """`value` as a member of `enum_type`, `default` when absent, OUT_OF_RANGE otherwise."""
    if value is None:
        return default
    try:
        return enum_type(value)
    except ValueError:
        raise DomainError(Fault.OUT_OF_RANGE, f"{field} {value} is out of range") from None


def text(value: str | None) -> str | None:
    """An optional string: absent or blank -> None (4.2.3: unset optional nodes are omitted,
    but clients often send them empty)."""
    if value is None or not value.strip():
        return None
    return value.strip()


def require_aware(moment: datetime | None, field: str) -> datetime | None:
    """Times without an offset are refused: the standard's format always has one."""
    if moment is not None and (moment.tzinfo is None or moment.utcoffset() is None):
        raise DomainError(Fault.BAD_TIME, f"{field} needs a UTC offset (e.g. +08:00 or Z)")
    return moment


def site_uris(
    values: Iterable[str | None] | None, member: str = "siteUris", *, may_be_empty: bool = False
) -> list[str]:
    """A list of site URIs as sent (every operation's siteUris; docs/gateway.md): each entry
    trimmed, a URI given twice kept once in its first place. A blank entry (empty, spaces
    only or nil) is refused with MISSING_PARAMETER, as is a list without entries unless
    `may_be_empty` (queryConfSitesStatusEx: no URI means every site)."""
    uris = []
    for value in values or ():
        uri = text(value)
        if uri is None:
            raise DomainError(Fault.MISSING_PARAMETER, f"{member}: empty site URI")
        uris.append(uri)
    if not uris and not may_be_empty:
        raise DomainError(Fault.MISSING_PARAMETER, member)
    return list(dict.fromkeys(uris))


# --- every request: trimmed strings, bounded lengths, readable dates -------------------------


def check_request(request: Any, members: Iterable[str]) -> None:
    """Trim and bound every value of a parsed request (`members`: its top-level member
    names), in place, at every depth (module doc). Refused: DomainError OUT_OF_RANGE naming
    the member and its limit; the request is then not run, so nothing changes."""
    for member in members:
        value = getattr(request, member, None)
        setattr(request, member, _checked(value, member, member))


def _checked(value: Any, member: str, path: str) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        if member not in wire.KEEPS_SPACES:
            value = value.strip()
        limit = wire.MAX_CHARS.get(member, wire.DEFAULT_MAX_CHARS)
        if len(value) > limit:
            raise DomainError(
                Fault.OUT_OF_RANGE, f"{path}: {len(value)} characters, at most {limit}"
            )
        return value
    if isinstance(value, bytes | bytearray):
        limit = wire.MAX_BYTES.get(member, wire.DEFAULT_MAX_BYTES)
        if len(value) > limit:
            raise DomainError(Fault.OUT_OF_RANGE, f"{path}: {len(value)} bytes, at most {limit}")
        return value
    if isinstance(value, list | tuple):
        if value and all(isinstance(item, bytes | bytearray) for item in value):
            # a binary member: spyne hands its decoded bytes over in chunks
            _checked(b"".join(value), member, path)
            return value
        limit = wire.MAX_ITEMS.get(member, wire.DEFAULT_MAX_ITEMS)
        if len(value) > limit:
            raise DomainError(Fault.OUT_OF_RANGE, f"{path}: {len(value)} entries, at most {limit}")
        return [_checked(item, member, f"{path}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, wire.WireType):
        kind = type(value)
        for name in kind.get_flat_type_info(kind):
            inner = getattr(value, name, None)
            if inner is not None:
                setattr(value, name, _checked(inner, name, f"{path}.{name}"))
    return value


class UnreadableValue(ValueError):
    """A request value that is not of its member's type; the SOAP layer answers a Client
    fault naming the member (gateway/soap.py)."""


# xs:dateTime as WS/T 546 4.3.1 writes it: yyyy-MM-ddTHH:mm:ss[.fraction][Z|+hh:mm|-hh:mm];
# a time without an offset is read here and refused by `require_aware` with a code
_DATETIME = re.compile(
    r"(?P<year>-?\d{4,9})-(?P<month>\d{2})-(?P<day>\d{2})"
    r"T(?P<hour>\d{2}):(?P<minute>\d{2}):(?P<second>\d{2})(?:\.(?P<fraction>\d+))?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?"
)
DATETIME_EXPECTED = (
    "expected an xs:dateTime such as 2013-05-07T22:46:31.235+08:00 or 2013-05-07T14:46:31Z, "
    "from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z in UTC"
)


def _shown(value: str | None) -> str:
    """A refused value as a fault quotes it: at most 40 characters."""
    value = value or ""
    return repr(value if len(value) <= 40 else value[:40] + "...")


def wire_datetime(value: str | None) -> datetime | None:
    """A request's dateTime text -> datetime. Leading and trailing white space is dropped
    (xs:dateTime collapses it), and a text of spaces only reads as absent, as an empty
    element does; more than 6 fraction digits are cut to microseconds. An
    instant whose UTC time falls before year 1 or after year 9999 (e.g.
    9999-12-31T23:59:59-01:00) is refused like an unreadable text: the platform cannot
    represent it, so it is not a value of the type it accepts."""
    text_ = (value or "").strip()
    if not text_:
        return None  # as an empty element: the member is absent (spyne reads "" so)
    match = _DATETIME.fullmatch(text_)
    if match is None:
        raise UnreadableValue(f"{_shown(value)} is not a date and time; {DATETIME_EXPECTED}")
    parts = match.groupdict()
    year = int(parts["year"])
    if not 1 <= year <= 9999:
        raise UnreadableValue(f"{_shown(value)}: year {year} is out of range; {DATETIME_EXPECTED}")
    zone = parts["zone"]
    tzinfo = None
    if zone == "Z":
        tzinfo = UTC
    elif zone is not None:
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        if hours > 14 or minutes > 59 or (hours == 14 and minutes):
            raise UnreadableValue(f"{_shown(value)}: offset {zone} is out of range (-14:00..+14:00)")
        sign = -1 if zone[0] == "-" else 1
        tzinfo = timezone(sign * timedelta(hours=hours, minutes=minutes))
    fraction = (parts["fraction"] or "")[:6].ljust(6, "0")
    try:
        moment = datetime(
            year, int(parts["month"]), int(parts["day"]), int(parts["hour"]),
            int(parts["minute"]), int(parts["second"]), int(fraction), tzinfo=tzinfo,
        )
    except ValueError as error:  # month 13, February 30th, hour 25 ...
        raise UnreadableValue(f"{_shown(value)}: {error}; {DATETIME_EXPECTED}") from None
    if tzinfo is not None:
        try:
            moment.astimezone(UTC)
        except OverflowError:
            raise UnreadableValue(
                f"{_shown(value)} is outside years 1-9999 in UTC; {DATETIME_EXPECTED}"
            ) from None
    return moment


# --- sites ----------------------------------------------------------------------------------


def site_to_domain(site: wire.SiteInfoEx | None, numbering: EnumNumbering) -> SiteSpec:
    if site is None:
        raise DomainError(Fault.MISSING_PARAMETER, "siteInfo")
    uri = text(site.uri)
    if uri is None:
        raise DomainError(Fault.MISSING_PARAMETER, "site uri")
    lock = site.isLockVideoSource
    return SiteSpec(
        uri=uri,
        name=site.name or "",
        type=enum_value(SiteType, site.type, DEFAULT_SITE.type, "site type"),
        from_=enum_value(SiteFrom, getattr(site, "from"), DEFAULT_SITE.from_, "site from"),
        dialing_mode=enum_value(
            DialingMode, site.dialingMode, DEFAULT_SITE.dialing_mode, "dialingMode"
        ),
        rate=text(site.rate),
        video_format=numbering.video_format_to_domain(site.videoFormat),
        video_protocol=numbering.video_protocol_to_domain(site.videoProtocol),
        is_lock_video_source=None if lock is None else int(flag(lock, False)),
        participant_type=site.participantType,
    )


def site_to_wire(site: SiteSpec, numbering: EnumNumbering) -> wire.SiteInfoEx:
    answer = wire.SiteInfoEx(
        name=site.name,
        uri=site.uri,
        type=int(site.type),
        dialingMode=int(site.dialing_mode),
        rate=site.rate,
        videoFormat=numbering.video_format_to_wire(site.video_format),
        videoProtocol=numbering.video_protocol_to_wire(site.video_protocol),
        isLockVideoSource=site.is_lock_video_source,
        participantType=site.participant_type,
    )
    setattr(answer, "from", int(site.from_))  # a Python keyword: no keyword argument
    return answer


def directory_site_to_wire(site: DirectorySite, numbering: EnumNumbering) -> wire.SiteInfoEx:
    return site_to_wire(
        SiteSpec(
            uri=site.uri,
            name=site.name,
            type=site.type,
            rate=site.rate,
            video_format=site.video_format,
            video_protocol=site.video_protocol,
        ),
        numbering,
    )


def site_access_infos(
    conference: Conference, occurrences: Iterable[Occurrence] | None = None
) -> list[wire.SiteAccessInfoEx]:
    """One SiteAccessInfoEx per site and occurrence (all occurrences unless given). `name`
    only where an occurrence names the site otherwise than the conference's site list
    (`sites` of the same answer): the reference examples leave it out, and clients of the
    earlier revision do not know it (wire.WRITTEN_ONLY_WHEN_NOT_DEFAULT)."""
    chosen = conference.occurrences if occurrences is None else occurrences
    listed = {site.uri: site.name for site in conference.spec.sites}
    return [
        wire.SiteAccessInfoEx(
            uri=site.uri,
            confAccessCode=conference.access_code,
            name=site.name if site.name != listed.get(site.uri, "") else None,
            beginTime=occurrence.begin,
        )
        for occurrence in chosen
        for site in occurrence.sites
    ]


# --- conferences ----------------------------------------------------------------------------


def conference_spec(
    info: wire.ConferenceInfoEx | None,
    numbering: EnumNumbering,
    default_cp_resource: int = DEFAULT_CP_RESOURCE,
) -> ConferenceSpec:
    """ConferenceInfoEx (or RecurrenceConfInfoEx) -> ConferenceSpec. Name, times, passwords
    and cpResouce's allowed set are the scheduler's to check; ranges are checked here.
    Passwords are taken as sent (an encrypted one is the caller's to decrypt)."""
    if info is None:
        raise DomainError(Fault.MISSING_PARAMETER, "conference")
    if info.beginTime is None:
        raise DomainError(Fault.MISSING_PARAMETER, "beginTime")
    require_aware(info.beginTime, "beginTime")
    return ConferenceSpec(
        name=(info.name or "").strip(),
        begin=info.beginTime,
        duration=info.duration,
        sites=[site_to_domain(site, numbering) for site in info.sites or []],
        access_code=text(info.accessCode),
        password=text(info.password),
        chairman_password=text(info.chairmanPassword),
        media_encrypt_type=enum_value(
            MediaEncryptType, info.mediaEncryptType, MediaEncryptType.AUTO, "mediaEncryptType"
        ),
        aux_video_format=numbering.video_format_to_domain(info.auxVideoFormat),
        aux_video_protocol=numbering.video_protocol_to_domain(info.auxVideoProtocol),
        cp_resource=default_cp_resource if info.cpResouce is None else info.cpResouce,
        rate=text(info.rate),
        is_recording=int(flag(info.isRecording, True)),
        recorder_addr=text(info.recorderAddr),
        is_live_broadcast=int(flag(info.isLiveBroadcast, True)),
        presentation=enum_value(Presentation, info.presentation, Presentation.FILM, "presentation"),
        bill_code=text(info.billCode),
        main_site_uri=text(info.mainSiteUri),
    )


def recurrence_rule(info: wire.RecurrenceConfInfoEx) -> RecurrenceRule:
    """RecurrenceConfInfoEx's rule members. frequency and interval are required; count 0 or
    absent means "bounded by endDate only"; weekDay/monthDay 0 or absent mean unused."""
    if info.frequency is None:
        raise DomainError(Fault.MISSING_PARAMETER, "frequency")
    if info.interval is None:
        raise DomainError(Fault.MISSING_PARAMETER, "interval")
    frequency = enum_value(Frequency, info.frequency, None, "frequency")
    week_days = list(info.weekDays or [])
    if any(day not in range(7) for day in week_days):
        raise DomainError(Fault.OUT_OF_RANGE, f"weekDays {week_days} not all in 0..6")
    week_day = info.weekDay or 0
    month_day = info.monthDay or 0
    count = info.count or 0
    if week_day not in range(6) or month_day not in range(32) or count < 0:
        raise DomainError(
            Fault.OUT_OF_RANGE, f"weekDay {week_day}, monthDay {month_day} or count {count}"
        )
    return RecurrenceRule(
        frequency=frequency,
        interval=info.interval,
        week_days=week_days,
        week_day=week_day,
        month_day=month_day,
        count=count,
        end_date=require_aware(info.endDate, "endDate"),
        time_zone=text(info.timeZone),
    )


def _conference_members(
    conference: Conference, numbering: EnumNumbering, occurrence: Occurrence
) -> dict:
    spec = conference.spec
    return {
        "confId": conference.conf_id,
        "name": occurrence.name,
        "beginTime": occurrence.begin,
        "duration": occurrence.duration,
        "accessCode": conference.access_code,
        "password": conference.password or None,
        "chairmanPassword": conference.chairman_password or None,
        "mediaEncryptType": int(spec.media_encrypt_type),
        "auxVideoFormat": numbering.video_format_to_wire(spec.aux_video_format),
        "auxVideoProtocol": numbering.video_protocol_to_wire(spec.aux_video_protocol),
        "cpResouce": spec.cp_resource,
        "rate": spec.rate,
        "isRecording": spec.is_recording,
        "recorderAddr": spec.recorder_addr,
        "isLiveBroadcast": spec.is_live_broadcast,
        "presentation": int(spec.presentation),
        "billCode": spec.bill_code,
        "sites": [site_to_wire(site, numbering) for site in occurrence.sites],
        "mainSiteUri": spec.main_site_uri,
    }


def conference_info_to_wire(
    conference: Conference, numbering: EnumNumbering, status: int | None = None
) -> wire.ConferenceInfoEx:
    """A plain conference as booked (its one occurrence, prolongations included)."""
    members = _conference_members(conference, numbering, conference.occurrences[0])
    return wire.ConferenceInfoEx(status=status, **members)


def recurrence_info_to_wire(
    conference: Conference, numbering: EnumNumbering, status: int | None = None
) -> wire.RecurrenceConfInfoEx:
    """A recurring conference: the series' own values (first occurrence's begin is the
    series begin, the spec's site list) plus the rule and every occurrence's access info."""
    members = _conference_members(conference, numbering, conference.occurrences[0])
    members["name"] = conference.spec.name
    members["beginTime"] = conference.spec.begin
    members["duration"] = conference.spec.duration
    members["sites"] = [site_to_wire(site, numbering) for site in conference.spec.sites]
    rule = conference.recurrence
    if rule is None:
        raise ValueError(f"conference {conference.conf_id} is not recurring")
    return wire.RecurrenceConfInfoEx(
        status=status,
        frequency=int(rule.frequency),
        interval=rule.interval,
        weekDays=list(rule.week_days) or None,
        weekDay=rule.week_day,
        timeZone=rule.time_zone,
        monthDay=rule.month_day,
        count=rule.count,
        endDate=rule.end_date,
        siteAccessInfos=site_access_infos(conference),
        **members,
    )


# --- statuses -------------------------------------------------------------------------------


def conference_status_to_wire(status: ConferenceStatus, now: datetime) -> wire.ConferenceStatusEx:
    """beginTime and endTime are required (not nillable) on the wire; a conference that does
    not exist has neither, so it answers the moment of the query for both: an empty span."""
    return wire.ConferenceStatusEx(
        id=status.conf_id,
        name=status.name or None,
        status=int(status.state),
        chair=status.chair,
        broadcast=status.broadcast,
        speaking=status.speaking,
        presentation=status.presentation,
        isLock=flag_to_wire(status.locked),
        isAudioSwitch=flag_to_wire(status.audio_switch),
        switchGate=status.switch_gate,
        beginTime=now if status.begin is None else status.begin,
        endTime=now if status.end is None else status.end,
        isLockPresentation=flag_to_wire(status.presentation_locked),
        lockPresentation=status.presentation_lock_holder,
    )


def error_info_to_wire(error: ErrorInfo | None) -> wire.ErrorInfoEx | None:
    if error is None:
        return None
    return wire.ErrorInfoEx(errCode=error.code, discription=error.description)


def site_status_to_wire(status: SiteStatus) -> wire.SiteStatusEx:
    """muted/quiet map to the wire's 0 = muted/quiet, 1 = not (WS/T 546 table 9)."""
    return wire.SiteStatusEx(
        uri=status.uri,
        name=status.name or None,
        status=int(status.state),
        volume=NO_VOLUME if status.volume is None else status.volume,
        videoSource=status.video_source,
        isMute=0 if status.muted else 1,
        isQuiet=0 if status.quiet else 1,
        type=int(status.type),
        isLocalVideoOpen=flag_to_wire(status.local_video_open),
        callFailedReason=error_info_to_wire(status.call_failed_reason),
        participantType=status.participant_type,
    )


def free_busy_state_to_wire(interval: BusyInterval) -> wire.FreeBusyStateEx:
    return wire.FreeBusyStateEx(
        startTime=interval.start,
        span=interval.span,
        state=int(interval.state),
        confId=interval.conf_id,
        confName=interval.conf_name,
    )


def site_free_busy_to_wire(
    answer: dict[str, list[BusyInterval]],
    window: tuple[datetime, timedelta],
    changes_only: bool = False,
) -> list[wire.SiteFreeBusyStatesEx]:
    """Per URI in the order asked. A site with nothing in the window: one FREE state over the
    window (free/busy), or no entry at all (`changes_only`, synchronisation)."""
    begin, duration = window
    sites = []
    for uri, intervals in answer.items():
        if not intervals:
            if changes_only:
                continue
            intervals = [BusyInterval(begin, duration, FreeBusy.FREE)]
        sites.append(
            wire.SiteFreeBusyStatesEx(
                uri=uri, states=[free_busy_state_to_wire(interval) for interval in intervals]
            )
        )
    return sites


# --- conference control ---------------------------------------------------------------------


def broad_info_to_wire(info: BroadInfo) -> wire.BroadInfoEx:
    """BroadInfoEx: support flags 1/0; a status (1 running, 0 stopped) only when the feature
    is supported (WS/T 546 table 12: otherwise NULL, i.e. the element is left out)."""
    return wire.BroadInfoEx(
        directBroad=int(info.live_supported),
        recordBroad=int(info.recording_supported),
        directBroadStatus=flag_to_wire(info.live_active),
        recordBroadStatus=flag_to_wire(info.recording_active),
    )


# --- terminals and the site directory (siteMgr) ---------------------------------------------


def inputs_to_aux_streams(inputs: Sequence[VideoInput]) -> list[wire.AuxStreamInfoEx]:
    return [wire.AuxStreamInfoEx(id=port.id, name=port.name) for port in inputs]


def inputs_to_sources_info(inputs: Sequence[VideoInput]) -> list[wire.VideoSourcesInfoEx]:
    """sourcesState: 1 a source is plugged into the input, 0 not (reference example)."""
    return [
        wire.VideoSourcesInfoEx(
            sourcesId=port.id, sourcesState=int(port.connected), sourcesName=port.name
        )
        for port in inputs
    ]


SCREEN_SOURCE_ID_BASE = 256  # a screen's entry: 256 + hdOut (declared input ids are 0..255)
NO_SOURCE = -1  # a screen the media does not feed yet


def screens_to_sources_info(shown: Sequence[ScreenShown], names: Sequence[str]
                            ) -> list[wire.VideoSourcesInfoEx]:
    """One entry per screen of a multi-screen site, after the inputs (docs/gateway.md,
    "Multi-screen sites"): sourcesId 256 + hdOut, sourcesState the videoSrc the screen shows
    now (0 local main, 1 local aux, 2 remote main, 3 remote aux; -1 nothing yet),
    sourcesName "<screen name>:<picture kind>:<target>" (e.g. "HD2:content:0178001",
    "HD1:cp:" for the conference's CP picture)."""
    return [
        wire.VideoSourcesInfoEx(
            sourcesId=SCREEN_SOURCE_ID_BASE + screen.hd_out,
            sourcesState=NO_SOURCE if screen.source is None else int(screen.source),
            sourcesName=f"{name}:{screen.picture}:{screen.target}",
        )
        for screen, name in zip(shown, names, strict=True)
    ]


def version_to_wire(version: DeviceVersion) -> wire.SiteDeviceVersionInfoEx:
    return wire.SiteDeviceVersionInfoEx(
        model=version.model,
        license=version.license,
        softVersion=version.soft_version,
        hardVersion=version.hard_version,
        logicVersion=version.logic_version,
        micVersions=[
            wire.SiteMicVersionMapEx(micIP=mic.ip, version=mic.version) for mic in version.mics
        ],
        manufacturer=version.manufacturer,
    )


def camera_command_from_wire(control: Any) -> CameraCommand:
    """CameraControlEx; camPos stays as sent (255 or absent for non-preset actions), the
    runtime checks it against the action."""
    missing = [
        member for member in ("camState", "camAction", "camSrc") if getattr(control, member) is None
    ]
    if missing:
        raise DomainError(Fault.MISSING_PARAMETER, f"cameraControl: {', '.join(missing)}")
    return CameraCommand(control.camState, control.camAction, control.camPos, control.camSrc)


def terminal_from_wire(info: Any, numbering: EnumNumbering) -> DirectorySite:
    if not info.uri or not info.uri.strip():
        raise DomainError(Fault.MISSING_PARAMETER, "siteInfo.uri")
    if not info.name or not info.name.strip():
        raise DomainError(Fault.MISSING_PARAMETER, "siteInfo.name")
    if info.type is None:
        raise DomainError(Fault.MISSING_PARAMETER, "siteInfo.type")
    if info.type not in SITE_TYPES:
        raise DomainError(Fault.OUT_OF_RANGE, f"siteInfo.type {info.type} not in 1..9")
    if info.regUser or info.regPassword:
        raise DomainError(Fault.NOT_SUPPORTED, "the directory keeps no registration credentials")
    capabilities = info.videoCapbility or []
    if len(capabilities) > 1:
        raise DomainError(Fault.NOT_SUPPORTED, "the directory keeps one video capability")
    protocol = video_format = None
    if capabilities:
        item = capabilities[0]
        formats = item.videoFormat or []
        if item.videoProtocol is None or not formats:
            raise DomainError(Fault.MISSING_PARAMETER, "videoCapbility: videoProtocol, videoFormat")
        if len(formats) > 1:
            raise DomainError(Fault.NOT_SUPPORTED, "the directory keeps one video format")
        protocol = numbering.video_protocol_to_domain(item.videoProtocol)
        video_format = numbering.video_format_to_domain(formats[0])
    return DirectorySite(
        uri=info.uri.strip(),
        name=info.name.strip(),
        type=SiteType(info.type),
        rate=text(info.rate),
        video_format=video_format,
        video_protocol=protocol,
    )


def terminal_to_wire(site: DirectorySite, numbering: EnumNumbering) -> wire.TerminalInfoEx:
    protocol = numbering.video_protocol_to_wire(site.video_protocol)
    video_format = numbering.video_format_to_wire(site.video_format)
    capability = (
        [wire.VideoCapbilityItemEx(videoProtocol=protocol, videoFormat=[video_format])]
        if protocol is not None and video_format is not None
        else None
    )
    return wire.TerminalInfoEx(
        name=site.name, uri=site.uri, type=int(site.type), rate=site.rate, videoCapbility=capability
    )


def page_info_to_wire(page: Page[Any] | RecordPage) -> wire.PagesInfoEx:
    return wire.PagesInfoEx(
        totalPages=page.total_pages, currentPage=page.current_page, totalRecords=page.total_records
    )


# -- call detail records (queryMultiPointCDREx, queryPointToPointCDREx) ---------------------


def cdr_window(config: Any) -> tuple[datetime, timedelta, int, int]:
    """(beginTime, duration, numberPerPage, currentPage) of a CDR query config; the domain
    (mcu/cdr.py) checks their ranges."""
    begin = require_aware(config.beginTime, "beginTime")
    page = config.pageParam
    if begin is None or config.duration is None:
        raise DomainError(Fault.MISSING_PARAMETER, "queryConfig: beginTime, duration")
    if page is None or page.numberPerPage is None or page.currentPage is None:
        raise DomainError(Fault.MISSING_PARAMETER, "queryConfig.pageParam")
    return begin, config.duration, page.numberPerPage, page.currentPage


def cdr_end_point(end_point: Any) -> str | None:
    """The URI of a PointToPointCDRQueryConfigEx.endPoint (None: every call). Its type is a
    site type (SiteInfoEx.type numbering); it must be one, and does not narrow further: a
    URI is one terminal with one protocol."""
    if end_point is None:
        return None
    uri = text(end_point.siteUri)
    if uri is None:
        raise DomainError(Fault.MISSING_PARAMETER, "endPoint.siteUri")
    enum_value(SiteType, end_point.type, None, "endPoint.type")
    return uri


def multipoint_cdr_to_wire(record: MultiPointRecord) -> wire.MultiPointCDREx:
    return wire.MultiPointCDREx(
        siteName=record.site_name,
        siteUri=record.site_uri,
        siteType=int(record.site_type),
        participantType=record.participant_type,
        rate=record.rate,
        startTime=record.times.start,
        endTime=record.times.ended,
        conferenceName=record.conf_name,
        conferenceId=record.conf_id,
        conferenceCreater=record.conf_creator,
        billCode=record.bill_code,
    )


def point_to_point_cdr_to_wire(record: PointToPointRecord) -> wire.PointToPointCDREx:
    return wire.PointToPointCDREx(
        callingUri=record.calling_uri,
        callingProtocol=int(record.calling_type),
        calledUri=record.called_uri,
        calledProtocol=int(record.called_type),
        rate=record.rate,
        startTime=record.times.start,
        endTime=record.times.ended,
    )


# --- MCUs and organizations (mcuMgr, orgaMgr, queryConfSiteMCUEx) ----------------------------


def mcu_info_to_wire(mcu: Mcu) -> wire.MCUInfoEx:
    """ip1 is the media address; port1, ip2 and port2 are left out: media ports are
    negotiated per call (ICE) and the MCU has no second address."""
    return wire.MCUInfoEx(
        id=mcu.id,
        name=mcu.name,
        type=int(mcu.type),
        ip1=mcu.address,
        domainName=mcu.domain_name,
        stutas=int(mcu.status),
    )


def mcu_resources_to_wire(resources: McuResources) -> wire.MCUResourceEx:
    return wire.MCUResourceEx(
        mcuId=resources.mcu_id,
        resourceList=[
            wire.MCUResourceItemEx(
                resourceType=int(timeline.type),
                resourceStatus=[
                    wire.ResourceOccupiedStatusEx(
                        freeCount=piece.free,
                        totalCount=piece.total,
                        beginTime=piece.begin,
                        duration=piece.duration,
                    )
                    for piece in timeline.slices
                ],
            )
            for timeline in resources.timelines
        ],
    )


def site_mcus_to_wire(served: Iterable[tuple[str, Mcu]]) -> list[wire.SiteMCUEx]:
    return [wire.SiteMCUEx(siteUri=uri, mcuId=mcu.id) for uri, mcu in served]


def organizations_to_wire(organizations: Iterable[Organization]) -> list[wire.OrganizationItemEx]:
    return [wire.OrganizationItemEx(id=org.id, name=org.name) for org in organizations]


# --- ad-hoc conference templates (queryAdhocConferencesEx, *AdhocConfFreeBusyEx) -----------


def adhoc_conference_to_wire(template: AdhocTemplate) -> wire.AdhocConferenceEx:
    return wire.AdhocConferenceEx(name=template.name, confAccessCode=template.access_code)


def adhoc_free_busy_to_wire(
    answer: dict[str, list[BusyInterval]], window: tuple[datetime, timedelta]
) -> list[wire.AdhocConfFreeBusyStateEx]:
    """Per access code in the order asked; a template with nothing in the window: one FREE
    state over the window (freebusys is 1..n on the wire)."""
    begin, duration = window
    return [
        wire.AdhocConfFreeBusyStateEx(
            confAccessCode=code,
            freebusys=[
                free_busy_state_to_wire(interval)
                for interval in intervals or [BusyInterval(begin, duration, FreeBusy.FREE)]
            ],
        )
        for code, intervals in answer.items()
    ]
