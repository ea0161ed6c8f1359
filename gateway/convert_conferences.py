"""Wire <-> domain conversion of sites, conferences (bookings, recurrences), their statuses
and the conference control answers (broadcast info). Part of the wire <-> domain conversion
(gateway/convert.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from gateway import wire
from gateway.convert_values import (
    DEFAULT_CP_RESOURCE,
    DEFAULT_SITE,
    NO_VOLUME,
    enum_value,
    flag,
    flag_to_wire,
    require_aware,
    text,
)
from gateway.enum_numbering import EnumNumbering
from mcu.errors import DomainError, Fault
from mcu.events import ErrorInfo
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
from mcu.runtime import BroadInfo, ConferenceStatus, SiteStatus

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
