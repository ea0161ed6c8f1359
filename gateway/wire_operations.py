"""The operations of the wire schema: every operation of the reference WSDL (OPERATIONS),
the eSDK operations it does not declare (EXTENSION_OPERATIONS) and the eSDK platform key
service (PLATFORM_KEY_OPERATIONS), each as an OperationSpec of its request and response
members. Part of the wire schema (gateway/wire.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from spyne.model import ModelBase

from gateway.wire_members import (
    TNS,
    Bin,
    Int,
    Of,
    Span,
    Str,
    Time,
)
from gateway.wire_types import (
    AdhocConferenceEx,
    AdhocConfFreeBusyStateEx,
    AuxStreamInfoEx,
    BroadInfoEx,
    CameraControlEx,
    ConferenceInfoEx,
    ConferenceStatusEx,
    MCUInfoEx,
    MCUResourceEx,
    MultiPointCDREx,
    MultiPointCDRQueryConfigEx,
    OrganizationItemEx,
    PagesInfoEx,
    PointToPointCDREx,
    PointToPointCDRQueryConfigEx,
    QueryConfigEx,
    RecurrenceConfInfoEx,
    SiteAccessInfoEx,
    SiteDeviceVersionInfoEx,
    SiteFreeBusyStatesEx,
    SiteInfoEx,
    SiteMCUEx,
    SiteStatusEx,
    SiteVolumeEx,
    TerminalInfoEx,
    VideoSourcesInfoEx,
)


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
