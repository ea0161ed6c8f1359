"""The complexTypes of reference/esdk_tp_professional.wsdl as spyne declarations, in
dependency order (names, member order, types and cardinalities as the reference has them,
its spellings included). Part of the wire schema (gateway/wire.py).
"""

from __future__ import annotations

from gateway.wire_members import (
    Dbl,
    Int,
    Of,
    Span,
    Str,
    Time,
    WireType,
)

# --- complexTypes, in dependency order ---------------------------------------------------


class SiteInfoEx(WireType):
    _type_info = [
        ("name", Str(0)),
        ("uri", Str(0)),
        ("type", Int(1)),
        ("from", Int(1)),
        ("dialingMode", Int(1)),
        ("rate", Str(0)),
        ("videoFormat", Int(0)),
        ("videoProtocol", Int(0)),
        ("isLockVideoSource", Int(0)),
        ("participantType", Int(0)),
        ("status", Int(0)),
    ]


class ConferenceNoticeEx(WireType):
    _type_info = [
        ("Email", Str(0)),
        ("Content", Str(0)),
    ]


class ConferenceInfoEx(WireType):
    _type_info = [
        ("confId", Str(0)),
        ("name", Str(0)),
        ("beginTime", Time(1)),
        ("duration", Span(0)),
        ("accessCode", Str(0)),
        ("password", Str(0)),
        ("chairmanPassword", Str(0)),
        ("mediaEncryptType", Int(1)),
        ("auxVideoFormat", Int(0)),
        ("auxVideoProtocol", Int(0)),
        ("cpResouce", Int(1)),
        ("rate", Str(0)),
        ("isRecording", Int(0)),
        ("recorderAddr", Str(0)),
        ("isLiveBroadcast", Int(0)),
        ("presentation", Int(1)),
        ("status", Int(0)),
        ("billCode", Str(0)),
        ("sites", Of(SiteInfoEx, 0, "unbounded")),
        ("mainSiteUri", Str(0)),
        ("conferenceNotice", Of(ConferenceNoticeEx, 0)),
    ]


class SiteAccessInfoEx(WireType):
    _type_info = [
        ("uri", Str(1)),
        ("confAccessCode", Str(1)),
        ("name", Str(0)),
        ("beginTime", Time(1)),
        ("mcuUri", Str(0)),
    ]


class RecurrenceConfInfoEx(ConferenceInfoEx):
    _type_info = [
        ("frequency", Int(1)),
        ("interval", Int(1)),
        ("weekDays", Int(0, "unbounded")),
        ("weekDay", Int(1)),
        ("timeZone", Str(0)),
        ("monthDay", Int(1)),
        ("count", Int(1)),
        ("endDate", Time(0)),
        ("siteAccessInfos", Of(SiteAccessInfoEx, 0, "unbounded")),
    ]


class ConferenceStatusEx(WireType):
    _type_info = [
        ("id", Str(0)),
        ("name", Str(0)),
        ("status", Int(1)),
        ("chair", Str(0)),
        ("broadcast", Str(0)),
        ("speaking", Str(0)),
        ("presentation", Str(0)),
        ("isLock", Int(0)),
        ("isAudioSwitch", Int(0)),
        ("switchGate", Int(0)),
        ("beginTime", Time(1)),
        ("endTime", Time(1)),
        ("isLockPresentation", Int(0)),
        ("lockPresentation", Str(0)),
    ]


class ErrorInfoEx(WireType):
    _type_info = [
        ("errCode", Int(1)),
        ("discription", Str(1)),
    ]


class SiteStatusEx(WireType):
    _type_info = [
        ("uri", Str(0)),
        ("name", Str(0)),
        ("status", Int(1)),
        ("volume", Int(1)),
        ("videoSource", Str(0)),
        ("isMute", Int(1)),
        ("isQuiet", Int(1)),
        ("type", Int(1)),
        ("isLocalVideoOpen", Int(0)),
        ("callFailedReason", Of(ErrorInfoEx, 0)),
        ("participantType", Int(0)),
        ("screens", Int(0)),
    ]


class FreeBusyStateEx(WireType):
    _type_info = [
        ("startTime", Time(0)),
        ("span", Span(0)),
        ("state", Int(1)),
        ("confId", Str(0)),
        ("confName", Str(0)),
    ]


class CameraControlEx(WireType):
    _type_info = [
        ("camState", Int(1)),
        ("camAction", Int(1)),
        ("camPos", Int(0)),
        ("camSrc", Int(1)),
    ]


class BroadInfoEx(WireType):
    _type_info = [
        ("directBroad", Int(1)),
        ("recordBroad", Int(1)),
        ("directBroadStatus", Int(0)),
        ("recordBroadStatus", Int(0)),
    ]


class VideoSourcesInfoEx(WireType):
    _type_info = [
        ("sourcesId", Int(1)),
        ("sourcesState", Int(1)),
        ("sourcesName", Str(0)),
    ]


class AuxStreamInfoEx(WireType):
    _type_info = [
        ("id", Int(1)),
        ("name", Str(1)),
    ]


class SiteFreeBusyStatesEx(WireType):
    _type_info = [
        ("uri", Str(1)),
        ("states", Of(FreeBusyStateEx, 1, "unbounded")),
    ]


class SiteMicVersionMapEx(WireType):
    _type_info = [
        ("micIP", Str(1)),
        ("version", Str(1)),
    ]


class SiteDeviceVersionInfoEx(WireType):
    _type_info = [
        ("model", Str(0)),
        ("license", Str(0)),
        ("softVersion", Str(0)),
        ("hardVersion", Str(0)),
        ("logicVersion", Str(0)),
        ("micVersions", Of(SiteMicVersionMapEx, 0, "unbounded")),
        ("manufacturer", Str(0)),
    ]


class ConfRecordAddrEx(WireType):
    _type_info = [
        ("confId", Str(1)),
        ("recordAddr", Str(1)),
    ]


class SiteVolumeEx(WireType):
    _type_info = [
        ("siteUri", Str(1)),
        ("volume", Int(1)),
    ]


class SortItemEx(WireType):
    _type_info = [
        ("sort", Int(1)),
        ("itemIndex", Int(1)),
    ]


class FilterBaseEx(WireType):
    _type_info = [
        ("columnIndex", Int(1)),
    ]


class PageParamEx(WireType):
    _type_info = [
        ("numberPerPage", Int(1)),
        ("currentPage", Int(1)),
    ]


class QueryConfigEx(WireType):
    _type_info = [
        ("sortItems", Of(SortItemEx, 0, "unbounded")),
        ("filters", Of(FilterBaseEx, 0, "unbounded")),
        ("focusItem", Int(0)),
        ("pageParam", Of(PageParamEx, 1)),
    ]


class StringFilterEx(FilterBaseEx):
    _type_info = [
        ("value", Str(1)),
    ]


class IntFilterEx(FilterBaseEx):
    _type_info = [
        ("greaterThan", Int(1)),
        ("lessThan", Int(1)),
        ("equalTo", Int(1)),
    ]


class DoubleFilterEx(FilterBaseEx):
    _type_info = [
        ("greaterThan", Dbl(1)),
        ("lessThan", Dbl(1)),
        ("equalTo", Dbl(1)),
    ]


class DateTimeFilterEx(FilterBaseEx):
    _type_info = [
        ("greaterThan", Time(1)),
        ("lessThan", Time(1)),
    ]


class IPAddressEx(WireType):
    _type_info = [
        ("ipAddress", Str(1)),
    ]


class IPAddressFilterEx(FilterBaseEx):
    _type_info = [
        ("value", Of(IPAddressEx, 1)),
    ]


class MultiPointCDRQueryConfigEx(WireType):
    _type_info = [
        ("beginTime", Time(1)),
        ("duration", Span(1)),
        ("siteUri", Str(0)),
        ("pageParam", Of(PageParamEx, 1)),
    ]


class MultiPointCDREx(WireType):
    _type_info = [
        ("siteName", Str(1)),
        ("siteUri", Str(1)),
        ("siteType", Int(1)),
        ("participantType", Int(1)),
        ("rate", Str(1)),
        ("startTime", Time(1)),
        ("endTime", Time(1)),
        ("conferenceName", Str(1)),
        ("conferenceId", Str(1)),
        ("conferenceCreater", Str(1)),
        ("billCode", Str(1)),
    ]


class PagesInfoEx(WireType):
    _type_info = [
        ("totalPages", Int(1)),
        ("currentPage", Int(1)),
        ("totalRecords", Int(1)),
    ]


class CallEndPointEx(WireType):
    _type_info = [
        ("type", Int(1)),
        ("siteUri", Str(1)),
    ]


class PointToPointCDRQueryConfigEx(WireType):
    _type_info = [
        ("beginTime", Time(1)),
        ("duration", Span(1)),
        ("endPoint", Of(CallEndPointEx, 0)),
        ("pageParam", Of(PageParamEx, 1)),
    ]


class PointToPointCDREx(WireType):
    _type_info = [
        ("callingUri", Str(1)),
        ("callingProtocol", Int(1)),
        ("calledUri", Str(1)),
        ("calledProtocol", Int(1)),
        ("rate", Str(1)),
        ("startTime", Time(1)),
        ("endTime", Time(1)),
    ]


class AdhocConfFreeBusyStateEx(WireType):
    _type_info = [
        ("confAccessCode", Str(1)),
        ("freebusys", Of(FreeBusyStateEx, 1, "unbounded")),
    ]


class AdhocConferenceEx(WireType):
    _type_info = [
        ("name", Str(1)),
        ("confAccessCode", Str(1)),
    ]


class SiteMCUEx(WireType):
    _type_info = [
        ("siteUri", Str(1)),
        ("mcuId", Int(1)),
    ]


class VideoCapbilityItemEx(WireType):
    _type_info = [
        ("videoProtocol", Int(1)),
        ("videoFormat", Int(1, "unbounded")),
    ]


class TerminalInfoEx(WireType):
    _type_info = [
        ("name", Str(1)),
        ("uri", Str(1)),
        ("type", Int(1)),
        ("rate", Str(0)),
        ("videoCapbility", Of(VideoCapbilityItemEx, 0, "unbounded")),
        ("regUser", Str(0)),
        ("regPassword", Str(0)),
    ]


class MCUInfoEx(WireType):
    _type_info = [
        ("id", Int(1)),
        ("name", Str(1)),
        ("type", Int(1)),
        ("ip1", Str(0)),
        ("port1", Int(0)),
        ("ip2", Str(0)),
        ("port2", Int(0)),
        ("domainName", Str(1)),
        ("stutas", Int(1)),
    ]


class ResourceOccupiedStatusEx(WireType):
    _type_info = [
        ("freeCount", Int(1)),
        ("totalCount", Int(1)),
        ("beginTime", Time(1)),
        ("duration", Span(1)),
    ]


class MCUResourceItemEx(WireType):
    _type_info = [
        ("resourceType", Int(1)),
        ("resourceStatus", Of(ResourceOccupiedStatusEx, 1, "unbounded")),
    ]


class MCUResourceEx(WireType):
    _type_info = [
        ("mcuId", Int(1)),
        ("resourceList", Of(MCUResourceItemEx, 1, "unbounded")),
    ]


class OrganizationItemEx(WireType):
    _type_info = [
        ("id", Str(1)),
        ("name", Str(1)),
    ]

