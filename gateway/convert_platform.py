"""Wire conversion of the platform's records and inventory: call detail records, MCUs and
their resources, organizations and ad-hoc conference templates. Part of the wire <-> domain
conversion (gateway/convert.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from gateway import wire
from gateway.convert_conferences import free_busy_state_to_wire
from gateway.convert_values import enum_value, require_aware, text
from mcu.adhoc import AdhocTemplate
from mcu.cdr import MultiPointRecord, PointToPointRecord
from mcu.errors import DomainError, Fault
from mcu.mcu_resources import McuResources
from mcu.mcus import Mcu
from mcu.model import (
    BusyInterval,
    FreeBusy,
    SiteType,
)
from mcu.organizations import Organization

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
