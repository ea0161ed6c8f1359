"""The wire schema: spyne declarations mirroring reference/esdk_tp_professional.wsdl.

Everything SOAP-facing derives from this module: the request parser, the response
serializer and the served WSDL. Names, order, types and cardinalities follow the
reference exactly (including its spellings: `cpResouce`, `discription`, `stutas`,
`videoCapbility`). The declarations were produced once from the reference WSDL and are
kept as explicit code; tests/test_wsdl.py checks the served schema against the reference,
so a drift in either direction fails.

Lenience: spyne's soft validation is off, so nested members the WSDL marks minOccurs=1
(e.g. ConferenceInfoEx.mediaEncryptType, which eSDK's own examples omit) parse as None
and the service applies the default. An operation's own required parameters (the
children of the request element with minOccurs=1) are checked by the gateway
(gateway/services/common.py) and a missing one is a SOAP Client fault; a value of the
wrong type (e.g. "abc" for an int) already fails in spyne's parser, also a Client fault.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from spyne import ComplexModel
from spyne.model import ModelBase
from spyne.model.binary import ByteArray
from spyne.model.primitive import DateTime, Double, Duration, Integer32, Unicode

TNS = "http://smc.huawei.com/"


def _occurs(type_, min_occurs: int, max_occurs: int | str):
    return type_.customize(min_occurs=min_occurs, max_occurs=max_occurs, nillable=False)


def Str(min_occurs: int, max_occurs: int | str = 1):  # noqa: N802 - reads like the XSD type
    return _occurs(Unicode, min_occurs, max_occurs)


def Int(min_occurs: int, max_occurs: int | str = 1):  # noqa: N802
    return _occurs(Integer32, min_occurs, max_occurs)


def Dbl(min_occurs: int, max_occurs: int | str = 1):  # noqa: N802
    return _occurs(Double, min_occurs, max_occurs)


def datetime_text(value: datetime) -> str:
    """How every dateTime goes out: the standard's server format, milliseconds always
    written, e.g. 2013-05-07T22:46:31.235+08:00 (WS/T 546 4.3.1: "服务器端返回的格式为 ...").
    gateway/soap.py installs it as the SOAP protocols' dateTime serializer."""
    return value.isoformat(timespec="milliseconds")


def Time(min_occurs: int, max_occurs: int | str = 1):  # noqa: N802
    return _occurs(DateTime, min_occurs, max_occurs)


def Span(min_occurs: int, max_occurs: int | str = 1):  # noqa: N802
    return _occurs(Duration, min_occurs, max_occurs)


def Bin(min_occurs: int, max_occurs: int | str = 1):  # noqa: N802
    return _occurs(ByteArray, min_occurs, max_occurs)


def Of(type_, min_occurs: int, max_occurs: int | str = 1):  # noqa: N802
    """A member of complex type `type_` with the given cardinality."""
    return _occurs(type_, min_occurs, max_occurs)


class WireType(ComplexModel):
    """Base of every complexType of the reference WSDL."""

    __namespace__ = TNS


@dataclass(frozen=True)
class OperationSpec:
    """One WSDL operation: its request element's members and its `<op>Response` members
    (resultCode first). `port` is the reference WSDL portType that declares it."""

    name: str
    port: str
    request: list[tuple[str, type[ModelBase]]]  # spyne model classes (customized)
    response: list[tuple[str, type[ModelBase]]]
    namespace: str = TNS  # of the request and response elements

    @property
    def required_parameters(self) -> list[str]:
        return [name for name, type_ in self.request if type_.Attributes.min_occurs >= 1]

    @property
    def response_names(self) -> list[str]:
        return [name for name, _ in self.response]


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


# --- answers shaped like the reference ---------------------------------------------------
# Optional response members written only while they differ from their default (docs/gateway.md,
# "Answers shaped like the reference"). Each is left out by the reference response examples
# AND absent from WS/T 546's data-type tables (4.3), the earlier revision of these types that
# existing clients were generated from: a strict unmarshaller (JAXB/CXF) built from it rejects
# an element it does not know, so such a member is written only when its value tells the
# client something absence does not. The value here is the member's default, what its
# absence means; None and "" are always defaults (spyne leaves a None member out).
WRITTEN_ONLY_WHEN_NOT_DEFAULT: dict[type[WireType], dict[str, object]] = {
    # not locked / no holder: the token-lock state of lockPresentationEx
    ConferenceStatusEx: {"isLockPresentation": 0, "lockPresentation": None},
    # the site's name is in `sites`: convert.site_access_infos fills it only where an
    # occurrence of a series names the site otherwise
    SiteAccessInfoEx: {"name": None},
    # not locked (setVideoSourceEx isLock); participantType only as booked
    SiteInfoEx: {"isLockVideoSource": 0, "participantType": None},
    SiteStatusEx: {"participantType": None, "screens": None},
    # only when booked with them (chairmanPassword is not here: the eSDK SDKs know it, and
    # the platform may have generated it, so the booking client needs it)
    ConferenceInfoEx: {"mainSiteUri": None, "conferenceNotice": None},
    RecurrenceConfInfoEx: {"timeZone": None},
}


def omit_defaults(value):
    """`value` (a response member: a WireType, a list of them, or a simple value) with every
    member of WRITTEN_ONLY_WHEN_NOT_DEFAULT that holds its default set to None, at every
    depth, so the serialiser leaves it out. Changes the objects in place and returns them."""
    if isinstance(value, list | tuple):
        for item in value:
            omit_defaults(item)
    elif isinstance(value, WireType):
        kind = type(value)
        for klass in kind.__mro__:
            for member, default in WRITTEN_ONLY_WHEN_NOT_DEFAULT.get(klass, {}).items():
                if getattr(value, member, None) in (default, ""):
                    setattr(value, member, None)
        for member in kind.get_flat_type_info(kind):
            omit_defaults(getattr(value, member, None))
    return value


# --- input limits -------------------------------------------------------------------------
# The largest value every request member may carry (docs/security.md, "SOAP input limits"),
# keyed by member name: a name means the same thing in every type and operation that uses
# it. Neither the reference WSDL (no maxLength facet) nor WS/T 546 (only "6 digits" for a
# password) gives lengths, so these are ours, sized after what the platform's own messages
# name (error-codes-smc.tsv: site name, site URI, conference name, bill code "cannot exceed
# {max}") with room for real values. Strings count characters after trimming (see
# KEEPS_SPACES); gateway/convert.py `check_request` applies the tables to every request in
# one place (gateway/soap.py), before the service runs. Over a limit: 570462211.
MAX_CHARS: dict[str, int] = {
    # names: conference, site, template, terminal, user
    "name": 64, "userName": 64, "regUser": 64,
    # site URIs (a SIP URI, an E.164 number or an IP), wherever a request carries one
    "uri": 128, "siteUri": 128, "siteUris": 128, "mainSiteUri": 128, "chairmanUri": 128,
    "videoSourceUri": 128, "mcuUri": 128, "target": 128,
    "subPics": 160,  # a site URI, or a URI followed by "(%AUXn)"
    # identifiers
    "confId": 64, "confIds": 64, "orgId": 64,
    "accessCode": 32, "confAccessCode": 32, "confAccessCodes": 32,
    # passwords as sent: 6 digits clear, or base64 of an RSA-2048 block (344 characters)
    # or of AES blocks, with room for the line breaks MIME base64 encoders add
    "password": 512, "chairmanPassword": 512, "regPassword": 64,
    "secretKey": 512, "iv": 512,  # base64 of an RSA-2048 block
    # short values
    "rate": 16, "clientType": 32, "secretType": 32, "timeZone": 64, "billCode": 64,
    "ipAddress": 64,
    # addresses and free text
    "recorderAddr": 256, "Email": 256, "value": 128, "Content": 1024,
}
# Any string member not named above: a hard bound, so that no request member is unbounded.
DEFAULT_MAX_CHARS = 1024
# Binary members (base64 on the wire), in bytes once decoded: Authenticate's proof is a
# SHA-256 (32 bytes).
MAX_BYTES: dict[str, int] = {"encryptPassword": 64}
DEFAULT_MAX_BYTES = 1024
# The most entries of a repeated member ("unbounded" in the WSDL).
MAX_ITEMS: dict[str, int] = {
    "siteUris": 256, "confIds": 256, "confAccessCodes": 256, "sites": 256,
    "siteVolumes": 256, "subPics": 64, "mcus": 64, "weekDays": 7,
    "siteAccessInfos": 4096,  # sites x occurrences of a series, as a query answered them
    "sortItems": 16, "filters": 16, "videoCapbility": 16, "videoFormat": 16,
    "localMainSrcs": 16,
}
DEFAULT_MAX_ITEMS = 1024
# String members taken exactly as sent; every other string member is trimmed of leading
# and trailing white space before anything uses it (docs/gateway.md, "Choices where the
# standard is silent"): free text, and a directory filter's substring, where a space may be
# meant.
KEEPS_SPACES = frozenset({"Content", "value"})


OPERATIONS: dict[str, OperationSpec] = {s.name: s for s in [
    OperationSpec("queryMCUInfoEx", "TPProfessional.MCUMgr",
        request=[("queryConfig", Of(QueryConfigEx, 1))],
        response=[("resultCode", Int(1)), ("mcus", Of(MCUInfoEx, 0, "unbounded")), ("pageInfo", Of(PagesInfoEx, 0))]),
    OperationSpec("queryMCUFutureResourceEx", "TPProfessional.MCUMgr",
        request=[("mcus", Int(1, "unbounded")), ("beginTime", Time(1)), ("duration", Span(1))],
        response=[("resultCode", Int(1)), ("mcuResList", Of(MCUResourceEx, 0, "unbounded"))]),
    OperationSpec("isConnectAuxSourceEx", "TPProfessional.SiteMgr",
        request=[("siteUri", Str(1))],
        response=[("resultCode", Int(1)), ("result", Int(0))]),
    OperationSpec("isSendAuxStreamEx", "TPProfessional.SiteMgr",
        request=[("siteUri", Str(1))],
        response=[("resultCode", Int(1)), ("result", Int(0))]),
    OperationSpec("isReceiveRemAuxStrmEx", "TPProfessional.SiteMgr",
        request=[("siteUri", Str(1))],
        response=[("resultCode", Int(1)), ("result", Int(0))]),
    OperationSpec("setAuxStreamEx", "TPProfessional.SiteMgr",
        request=[("siteUri", Str(1)), ("controlCode", Int(1))],
        response=[("resultCode", Int(1))]),
    OperationSpec("queryAuxStreamSourcesEx", "TPProfessional.SiteMgr",
        request=[("siteUri", Str(1))],
        response=[("resultCode", Int(1)), ("auxStreams", Of(AuxStreamInfoEx, 0, "unbounded"))]),
    OperationSpec("queryVideoOutSrcStateEx", "TPProfessional.SiteMgr",
        request=[("siteUri", Str(1))],
        response=[("resultCode", Int(1)), ("videoSourcesInfos", Of(VideoSourcesInfoEx, 0, "unbounded"))]),
    OperationSpec("ctrlCameraEx", "TPProfessional.SiteMgr",
        request=[("siteUri", Str(1)), ("cameraControl", Of(CameraControlEx, 1))],
        response=[("resultCode", Int(1))]),
    OperationSpec("setMainAuxStreamSourcesEx", "TPProfessional.SiteMgr",
        request=[("siteUri", Str(1)), ("localMainSrcs", Int(1, "unbounded")), ("localAuxSrc", Int(1))],
        response=[("resultCode", Int(1))]),
    OperationSpec("queryMainStreamSourcesEx", "TPProfessional.SiteMgr",
        request=[("siteUri", Str(1))],
        response=[("resultCode", Int(1)), ("auxStreams", Of(AuxStreamInfoEx, 0, "unbounded"))]),
    OperationSpec("setVideoOutSrcEx", "TPProfessional.SiteMgr",
        request=[("siteUri", Str(1)), ("hdOut", Int(1)), ("videoSrc", Int(1))],
        response=[("resultCode", Int(1))]),
    OperationSpec("querySiteVersionInfoEx", "TPProfessional.SiteMgr",
        request=[("siteUri", Str(1))],
        response=[("resultCode", Int(1)), ("siteDeviceVersionInfo", Of(SiteDeviceVersionInfoEx, 0))]),
    OperationSpec("addSiteInfoEx", "TPProfessional.SiteMgr",
        request=[("orgId", Str(1)), ("siteInfo", Of(TerminalInfoEx, 1))],
        response=[("resultCode", Int(1))]),
    OperationSpec("editSiteInfoEx", "TPProfessional.SiteMgr",
        request=[("siteInfo", Of(TerminalInfoEx, 1))],
        response=[("resultCode", Int(1))]),
    OperationSpec("deleteSiteInfoEx", "TPProfessional.SiteMgr",
        request=[("siteUris", Str(1, "unbounded"))],
        response=[("resultCode", Int(1))]),
    OperationSpec("querySitesInfoEx", "TPProfessional.SiteMgr",
        request=[("queryConfig", Of(QueryConfigEx, 1))],
        response=[("resultCode", Int(1)), ("sites", Of(TerminalInfoEx, 0, "unbounded")), ("pageInfo", Of(PagesInfoEx, 0))]),
    OperationSpec("requestChairEx", "TPProfessional.TerminalConfCtr",
        request=[("siteUri", Str(1))],
        response=[("resultCode", Int(1))]),
    OperationSpec("releaseChairEx", "TPProfessional.TerminalConfCtr",
        request=[("siteUri", Str(1))],
        response=[("resultCode", Int(1))]),
    OperationSpec("queryConfCtrlPwdEx", "TPProfessional.TerminalConfCtr",
        request=[("siteUri", Str(1))],
        response=[("resultCode", Int(1)), ("result", Str(0))]),
    OperationSpec("queryBroadInfoEx", "TPProfessional.TerminalConfCtr",
        request=[("siteUri", Str(1))],
        response=[("resultCode", Int(1)), ("broadInfo", Of(BroadInfoEx, 0))]),
    OperationSpec("setRecordBroadEx", "TPProfessional.TerminalConfCtr",
        request=[("siteUri", Str(1)), ("action", Int(1))],
        response=[("resultCode", Int(1))]),
    OperationSpec("setDirectBroadEx", "TPProfessional.TerminalConfCtr",
        request=[("siteUri", Str(1)), ("action", Int(1))],
        response=[("resultCode", Int(1))]),
    OperationSpec("queryOrganizationEx", "TPProfessional.OrgaMgr",
        request=[],
        response=[("resultCode", Int(1)), ("orgs", Of(OrganizationItemEx, 0, "unbounded"))]),
    OperationSpec("LoginRequest", "TP.Common",
        request=[("userName", Str(1)), ("clientType", Str(0)), ("version", Int(0))],
        response=[("resultCode", Int(1)), ("randomSequence", Bin(0)), ("hashType", Str(0))]),
    OperationSpec("Authenticate", "TP.Common",
        request=[("encryptPassword", Bin(1))],
        response=[("resultCode", Int(1))]),
    OperationSpec("Logout", "TP.Common",
        request=[],
        response=[("resultCode", Int(1))]),
    OperationSpec("KeepAlive", "TP.Common",
        request=[],
        response=[("resultCode", Int(1))]),
    OperationSpec("scheduleConfEx", "TPProfessional.ConfMgr",
        request=[("scheduleConf", Of(ConferenceInfoEx, 1))],
        response=[("resultCode", Int(1)), ("conferenceInfo", Of(ConferenceInfoEx, 0))]),
    OperationSpec("scheduleRecurrenceConferenceEx", "TPProfessional.ConfMgr",
        request=[("scheduleConf", Of(RecurrenceConfInfoEx, 1))],
        response=[("resultCode", Int(1)), ("recurrenceConfInfo", Of(RecurrenceConfInfoEx, 0))]),
    OperationSpec("editScheduledConfEx", "TPProfessional.ConfMgr",
        request=[("editConf", Of(ConferenceInfoEx, 1))],
        response=[("resultCode", Int(1)), ("conferenceInfo", Of(ConferenceInfoEx, 0))]),
    OperationSpec("editRecurrenceConferenceEx", "TPProfessional.ConfMgr",
        request=[("editConf", Of(RecurrenceConfInfoEx, 1)), ("beginTime", Time(0))],
        response=[("resultCode", Int(1)), ("recurrenceConfInfo", Of(RecurrenceConfInfoEx, 0))]),
    OperationSpec("querySitesEx", "TPProfessional.ConfMgr",
        request=[],
        response=[("resultCode", Int(1)), ("siteInfos", Of(SiteInfoEx, 0, "unbounded"))]),
    OperationSpec("prolongScheduledConfEx", "TPProfessional.ConfMgr",
        request=[("confId", Str(1)), ("beginDate", Time(0)), ("prolongTime", Span(1))],
        response=[("resultCode", Int(1))]),
    OperationSpec("querySiteStatusEx", "TPProfessional.ConfMgr",
        request=[("siteUris", Str(1, "unbounded")), ("beginTime", Time(1)), ("duration", Span(1))],
        response=[("resultCode", Int(1)), ("siteFreeBusyStates", Of(SiteFreeBusyStatesEx, 0, "unbounded"))]),
    OperationSpec("queryConferencesStatusEx", "TPProfessional.ConfMgr",
        request=[("confIds", Str(0, "unbounded"))],
        response=[("resultCode", Int(1)), ("conferenceStatuses", Of(ConferenceStatusEx, 0, "unbounded"))]),
    OperationSpec("queryConfSitesStatusEx", "TPProfessional.ConfMgr",
        request=[("confId", Str(1)), ("siteUris", Str(0, "unbounded"))],
        response=[("resultCode", Int(1)), ("siteStatuses", Of(SiteStatusEx, 0, "unbounded"))]),
    OperationSpec("synchSiteStatusEx", "TPProfessional.ConfMgr",
        request=[("siteUris", Str(1, "unbounded")), ("beginTime", Time(1)), ("duration", Span(1))],
        response=[("resultCode", Int(1)), ("siteFreeBusyStates", Of(SiteFreeBusyStatesEx, 0, "unbounded"))]),
    OperationSpec("addSiteToConfEx", "TPProfessional.ConfMgr",
        request=[("confId", Str(1)), ("siteInfo", Of(SiteInfoEx, 1)), ("beginTime", Time(0))],
        response=[("resultCode", Int(1)), ("siteAccessInfos", Of(SiteAccessInfoEx, 0, "unbounded"))]),
    OperationSpec("delSiteFromConfEx", "TPProfessional.ConfMgr",
        request=[("confId", Str(1)), ("siteUri", Str(1)), ("beginTime", Time(0))],
        response=[("resultCode", Int(1))]),
    OperationSpec("connectSitesEx", "TPProfessional.ConfMgr",
        request=[("confId", Str(1)), ("siteUris", Str(1, "unbounded"))],
        response=[("resultCode", Int(1))]),
    OperationSpec("disconnectSitesEx", "TPProfessional.ConfMgr",
        request=[("confId", Str(1)), ("siteUris", Str(1, "unbounded"))],
        response=[("resultCode", Int(1))]),
    OperationSpec("delScheduledConfEx", "TPProfessional.ConfMgr",
        request=[("confId", Str(1)), ("beginTime", Time(0))],
        response=[("resultCode", Int(1))]),
    OperationSpec("queryMultiPointCDREx", "TPProfessional.ConfMgr",
        request=[("queryConfig", Of(MultiPointCDRQueryConfigEx, 1))],
        response=[("resultCode", Int(1)), ("cdr", Of(MultiPointCDREx, 0, "unbounded")), ("pageInfo", Of(PagesInfoEx, 0))]),
    OperationSpec("queryPointToPointCDREx", "TPProfessional.ConfMgr",
        request=[("queryConfig", Of(PointToPointCDRQueryConfigEx, 1))],
        response=[("resultCode", Int(1)), ("cdr", Of(PointToPointCDREx, 0, "unbounded")), ("pageInfo", Of(PagesInfoEx, 0))]),
    OperationSpec("queryAdhocConfFreeBusyEx", "TPProfessional.ConfMgr",
        request=[("confAccessCodes", Str(1, "unbounded")), ("beginTime", Time(1)), ("duration", Span(1))],
        response=[("resultCode", Int(1)), ("freebusy", Of(AdhocConfFreeBusyStateEx, 0, "unbounded"))]),
    OperationSpec("synchAdhocConfFreeBusyEx", "TPProfessional.ConfMgr",
        request=[("confAccessCodes", Str(1, "unbounded")), ("beginTime", Time(1)), ("duration", Span(1))],
        response=[("resultCode", Int(1)), ("freebusy", Of(AdhocConfFreeBusyStateEx, 1, "unbounded"))]),
    OperationSpec("queryAdhocConferencesEx", "TPProfessional.ConfMgr",
        request=[("queryConfig", Of(QueryConfigEx, 1))],
        response=[("resultCode", Int(1)), ("adhocConferences", Of(AdhocConferenceEx, 0, "unbounded")), ("pageInfo", Of(PagesInfoEx, 0))]),
    OperationSpec("queryConfSiteMCUEx", "TPProfessional.ConfMgr",
        request=[("confId", Str(1)), ("siteUris", Str(0, "unbounded")), ("beginTime", Time(0))],
        response=[("resultCode", Int(1)), ("mcus", Of(SiteMCUEx, 0, "unbounded"))]),
    OperationSpec("getContinuousPresenceInfoEx", "TPProfessional.ConfMgr",
        request=[("confId", Str(1))],
        response=[("resultCode", Int(1)), ("targets", Str(1, "unbounded")), ("cpResource", Int(1)), ("supportCPModes", Int(1, "unbounded"))]),
    OperationSpec("getContinuousPresenceParamEx", "TPProfessional.ConfMgr",
        request=[("confId", Str(1)), ("target", Str(1))],
        response=[("resultCode", Int(1)), ("presenceMode", Int(1)), ("subPics", Str(0, "unbounded"))]),
    OperationSpec("setVideoSourceEx", "TPProfessional.ConfCtr",
        request=[("confId", Str(1)), ("siteUri", Str(1)), ("videoSourceUri", Str(1)), ("isLock", Int(0))],
        response=[("resultCode", Int(1))]),
    OperationSpec("setAudioSwitchEx", "TPProfessional.ConfCtr",
        request=[("confId", Str(1)), ("switchGate", Int(0)), ("isSwitch", Int(1))],
        response=[("resultCode", Int(1))]),
    OperationSpec("setBroadcastSiteEx", "TPProfessional.ConfCtr",
        request=[("confId", Str(1)), ("siteUri", Str(1)), ("isBroadcast", Int(1))],
        response=[("resultCode", Int(1))]),
    OperationSpec("setBroadcastContinuousPresenceEx", "TPProfessional.ConfCtr",
        request=[("confId", Str(1)), ("isBroadcast", Int(1))],
        response=[("resultCode", Int(1))]),
    OperationSpec("setSitesMuteEx", "TPProfessional.ConfCtr",
        request=[("confId", Str(1)), ("siteUris", Str(1, "unbounded")), ("isMute", Int(1))],
        response=[("resultCode", Int(1))]),
    OperationSpec("setSitesQuietEx", "TPProfessional.ConfCtr",
        request=[("confId", Str(1)), ("siteUris", Str(1, "unbounded")), ("isQuiet", Int(1))],
        response=[("resultCode", Int(1))]),
    OperationSpec("setContinuousPresenceEx", "TPProfessional.ConfCtr",
        request=[("confId", Str(1)), ("target", Str(1)), ("presenceMode", Int(1)), ("subPics", Str(0, "unbounded"))],
        response=[("resultCode", Int(1))]),
    OperationSpec("requestConfChairEx", "TPProfessional.ConfCtr",
        request=[("confId", Str(1)), ("chairmanUri", Str(1))],
        response=[("resultCode", Int(1))]),
    OperationSpec("releaseConfChairEx", "TPProfessional.ConfCtr",
        request=[("confId", Str(1))],
        response=[("resultCode", Int(1))]),
    OperationSpec("setFloorEx", "TPProfessional.ConfCtr",
        request=[("confId", Str(1)), ("siteUri", Str(1))],
        response=[("resultCode", Int(1))]),
    OperationSpec("setConfSiteVolumeEx", "TPProfessional.ConfCtr",
        request=[("confId", Str(1)), ("siteVolumes", Of(SiteVolumeEx, 1, "unbounded"))],
        response=[("resultCode", Int(1))]),
    OperationSpec("displayConfSiteLocalVideoEx", "TPProfessional.ConfCtr",
        request=[("confId", Str(1)), ("siteUris", Str(1, "unbounded"))],
        response=[("resultCode", Int(1))]),
    OperationSpec("hideConfSiteLocalVideoEx", "TPProfessional.ConfCtr",
        request=[("confId", Str(1)), ("siteUris", Str(1, "unbounded"))],
        response=[("resultCode", Int(1))]),
    OperationSpec("lockPresentationEx", "TPProfessional.ConfCtr",
        request=[("confId", Str(1)), ("siteUri", Str(1))],
        response=[("resultCode", Int(1))]),
    OperationSpec("unlockPresentationEx", "TPProfessional.ConfCtr",
        request=[("confId", Str(1))],
        response=[("resultCode", Int(1))]),
]}



# eSDK operations the reference WSDL does not declare, answered on every endpoint but not
# listed in the served WSDL: eSDK's later name for the site directory query (request as querySitesInfoEx, answer as the eSDK
# example: SiteInfoEx items and the page info).
ESDK_PLATFORM_NS = "esdk_platform"

EXTENSION_OPERATIONS: dict[str, OperationSpec] = {s.name: s for s in [
    OperationSpec("querySitesByConditionEx", "TPProfessional.SiteMgr",
        request=[("queryConfig", Of(QueryConfigEx, 1))],
        response=[("resultCode", Int(1)), ("siteInfos", Of(SiteInfoEx, 0, "unbounded")), ("pageInfo", Of(PagesInfoEx, 0))]),
]}

# The eSDK platform key service (/esdk/services/platformKeyMgr, namespace esdk_platform,
# unqualified children), as the eSDK SDK's PlatformKeyMgr client calls it; its own WSDL is
# served at that path, and like every operation it is dispatched on every endpoint.
# secretType, secretKey and iv are optional on the wire: the platform answers a missing
# one with a result code (gateway/session_crypto.py), not a fault.
PLATFORM_KEY_OPERATIONS: dict[str, OperationSpec] = {s.name: s for s in [
    OperationSpec("getPublicKey", "PlatformKeyMgr",
        request=[("secretType", Str(0))],
        response=[("resultCode", Int(1)), ("publicKey", Str(0))],
        namespace=ESDK_PLATFORM_NS),
    OperationSpec("setSecretKey", "PlatformKeyMgr",
        request=[("secretType", Str(0)), ("secretKey", Str(0)), ("iv", Str(0))],
        response=[("resultCode", Int(1))],
        namespace=ESDK_PLATFORM_NS),
]}

ALL_OPERATIONS: dict[str, OperationSpec] = {
    **OPERATIONS, **EXTENSION_OPERATIONS, **PLATFORM_KEY_OPERATIONS
}
