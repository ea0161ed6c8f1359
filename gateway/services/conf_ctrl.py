"""TPProfessional.ConfCtr and TPProfessional.TerminalConfCtr: conference control (WS/T 546
4.6, eSDK confCtrl), served at /services/confCtrl and /esdk/services/tpProfessionalConfCtrl.

Every operation acts on the live runtime (mcu/runtime/: its control, recording and status
parts) and is asynchronous in the sense
of WS/T 546 4.2.3: resultCode 0 means the command was accepted; its effect shows in later
queries (queryConferencesStatusEx, queryConfSitesStatusEx, queryBroadInfoEx,
getContinuousPresenceParamEx). A refused command changes nothing: the runtime validates
everything before it changes anything.

Flags. The WSDL types every flag of these operations as xsd:int with a two-value table
(isMute 0 = mute / 1 = not, isBroadcast 0 = start / 1 = stop, isSwitch 1 = on / 0 = off).
They follow the Boolean rule of WS/T 546 4.2.3 like every flag of the gateway
(gateway/convert.py `flag`): a value whose text begins with "1" reads as the table's 1,
any other as its 0; a value that is not an integer (empty included) fails the SOAP layer's
type check, a SOAP Client fault.
"""

from __future__ import annotations

from gateway.convert import broad_info_to_wire, reads_one, site_uris
from gateway.services.common import runtime_of
from gateway.soap import GatewayService, Reply, operation
from mcu.errors import DomainError, Fault


class ConfCtrlService(GatewayService):
    """TPProfessional.ConfCtr and TPProfessional.TerminalConfCtr."""

    @operation("setVideoSourceEx")
    def setVideoSourceEx(ctx, confId, siteUri, videoSourceUri, isLock):  # noqa: N802, N803
        lock = reads_one(isLock)
        runtime_of(ctx).control.set_video_source(confId, siteUri, videoSourceUri, lock)
        return Reply()

    @operation("setAudioSwitchEx")
    def setAudioSwitchEx(ctx, confId, switchGate, isSwitch):  # noqa: N802, N803
        enabled = reads_one(isSwitch)
        runtime_of(ctx).control.set_audio_switch(confId, enabled, switchGate)
        return Reply()

    @operation("setBroadcastSiteEx")
    def setBroadcastSiteEx(ctx, confId, siteUri, isBroadcast):  # noqa: N802, N803
        start = not reads_one(isBroadcast)
        runtime_of(ctx).control.set_broadcast_site(confId, siteUri, start)
        return Reply()

    @operation("setBroadcastContinuousPresenceEx")
    def setBroadcastContinuousPresenceEx(ctx, confId, isBroadcast):  # noqa: N802, N803
        start = not reads_one(isBroadcast)
        runtime_of(ctx).control.set_broadcast_cp(confId, start)
        return Reply()

    @operation("setSitesMuteEx")
    def setSitesMuteEx(ctx, confId, siteUris, isMute):  # noqa: N802, N803
        muted = not reads_one(isMute)
        runtime_of(ctx).control.set_sites_mute(confId, site_uris(siteUris, "siteUris"), muted)
        return Reply()

    @operation("setSitesQuietEx")
    def setSitesQuietEx(ctx, confId, siteUris, isQuiet):  # noqa: N802, N803
        quiet = not reads_one(isQuiet)
        runtime_of(ctx).control.set_sites_quiet(confId, site_uris(siteUris, "siteUris"), quiet)
        return Reply()

    @operation("setContinuousPresenceEx")
    def setContinuousPresenceEx(ctx, confId, target, presenceMode, subPics):  # noqa: N802, N803
        # an empty <subPics/> is an empty pane, kept in its place
        panes = [pic or "" for pic in subPics or ()]
        runtime_of(ctx).control.set_continuous_presence(confId, target, presenceMode, panes)
        return Reply()

    @operation("requestConfChairEx")
    def requestConfChairEx(ctx, confId, chairmanUri):  # noqa: N802, N803
        runtime_of(ctx).control.request_conf_chair(confId, chairmanUri)
        return Reply()

    @operation("releaseConfChairEx")
    def releaseConfChairEx(ctx, confId):  # noqa: N802, N803
        runtime_of(ctx).control.release_conf_chair(confId)
        return Reply()

    @operation("setFloorEx")
    def setFloorEx(ctx, confId, siteUri):  # noqa: N802, N803
        runtime_of(ctx).control.set_floor(confId, siteUri)
        return Reply()

    @operation("setConfSiteVolumeEx")
    def setConfSiteVolumeEx(ctx, confId, siteVolumes):  # noqa: N802, N803
        volumes = []
        for entry in siteVolumes or ():
            # the soap layer checks top-level members only; these are nested minOccurs=1
            if entry is None or not entry.siteUri or entry.volume is None:
                raise DomainError(Fault.MISSING_PARAMETER, "siteVolumes: siteUri and volume")
            volumes.append((entry.siteUri.strip(), entry.volume))
        runtime_of(ctx).control.set_site_volumes(confId, volumes)
        return Reply()

    @operation("displayConfSiteLocalVideoEx")
    def displayConfSiteLocalVideoEx(ctx, confId, siteUris):  # noqa: N802, N803
        runtime_of(ctx).control.set_local_video(confId, site_uris(siteUris, "siteUris"), True)
        return Reply()

    @operation("hideConfSiteLocalVideoEx")
    def hideConfSiteLocalVideoEx(ctx, confId, siteUris):  # noqa: N802, N803
        runtime_of(ctx).control.set_local_video(confId, site_uris(siteUris, "siteUris"), False)
        return Reply()

    @operation("lockPresentationEx")
    def lockPresentationEx(ctx, confId, siteUri):  # noqa: N802, N803
        runtime_of(ctx).control.lock_presentation(confId, siteUri)
        return Reply()

    @operation("unlockPresentationEx")
    def unlockPresentationEx(ctx, confId):  # noqa: N802, N803
        runtime_of(ctx).control.unlock_presentation(confId)
        return Reply()

    # TPProfessional.TerminalConfCtr: operations that name only a site and act on the
    # ongoing conference it is in. The eSDK serves them at the confCtrl address; one class
    # keeps the served WSDL at one port (one soap:address) per endpoint.

    @operation("requestChairEx")
    def requestChairEx(ctx, siteUri):  # noqa: N802, N803
        runtime_of(ctx).control.request_chair(siteUri)
        return Reply()

    @operation("releaseChairEx")
    def releaseChairEx(ctx, siteUri):  # noqa: N802, N803
        runtime_of(ctx).control.release_chair(siteUri)
        return Reply()

    @operation("setRecordBroadEx")
    def setRecordBroadEx(ctx, siteUri, action):  # noqa: N802, N803
        start = not reads_one(action)
        runtime_of(ctx).recording.set_recording(siteUri, start)
        return Reply()

    @operation("setDirectBroadEx")
    def setDirectBroadEx(ctx, siteUri, action):  # noqa: N802, N803
        start = not reads_one(action)
        runtime_of(ctx).recording.set_live_broadcast(siteUri, start)
        return Reply()

    @operation("queryBroadInfoEx")
    def queryBroadInfoEx(ctx, siteUri):  # noqa: N802, N803
        info = runtime_of(ctx).recording.broad_info(siteUri)
        return Reply(broadInfo=broad_info_to_wire(info))

    @operation("queryConfCtrlPwdEx")
    def queryConfCtrlPwdEx(ctx, siteUri):  # noqa: N802, N803
        # "1": the site's conference has a chairman (conference-control) password, "0": not;
        # the password itself is never sent back
        has_password = runtime_of(ctx).status.has_chair_password(siteUri)
        return Reply(result="1" if has_password else "0")
