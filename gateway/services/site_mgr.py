"""TPProfessional.SiteMgr: aux stream, video input and camera control of a site (WS/T 546
4.7) and the site directory (eSDK *SiteInfoEx), served at /services/siteMgr and
/esdk/services/tpProfessionalSiteMgr.

Terminal operations answer from the terminal's endpoint's device description
(mcu/endpoints.py TerminalDevice: what that terminal declared at registration and its
`device` messages since, or the documented undeclared device; docs/gateway.md "The
terminal's device") and act on
the ongoing conference the site is in (mcu/runtime/site_devices.py); like confCtrl they are accepted
asynchronously and refused without any change. The directory operations go to the
scheduler, which persists them in its store.

querySitesInfoEx filters, sorts and pages the directory as gateway/directory_query.py says.

Directory entries keep one video capability (protocol + format): TerminalInfoEx with more
than one capability item or format, and SIP registration credentials (regUser /
regPassword), which the simulator does not keep, are refused with NOT_SUPPORTED rather
than stored in part. addSiteInfoEx's orgId must name an organization of the tree
(queryOrganizationEx, mcu/organizations.py; ORGANIZATION_NOT_FOUND otherwise) and is stored
with the site; editSiteInfoEx, which has no orgId, keeps it.
"""

from __future__ import annotations

from dataclasses import replace

from gateway.convert import (
    camera_command_from_wire,
    flag_to_wire,
    inputs_to_aux_streams,
    inputs_to_sources_info,
    page_info_to_wire,
    reads_one,
    screens_to_sources_info,
    site_uris,
    terminal_from_wire,
    terminal_to_wire,
    version_to_wire,
)
from gateway.directory_query import query_directory
from gateway.services.common import runtime_of
from gateway.soap import GatewayService, Reply, operation, request_context


class SiteMgrService(GatewayService):
    """TPProfessional.SiteMgr."""

    @operation("setAuxStreamEx")
    def setAuxStreamEx(ctx, siteUri, controlCode):  # noqa: N802, N803
        send = not reads_one(controlCode)
        runtime_of(ctx).devices.set_aux_stream(siteUri, send)
        return Reply()

    @operation("queryAuxStreamSourcesEx")
    def queryAuxStreamSourcesEx(ctx, siteUri):  # noqa: N802, N803
        inputs = runtime_of(ctx).devices.aux_stream_sources(siteUri)
        return Reply(auxStreams=inputs_to_aux_streams(inputs))

    @operation("queryMainStreamSourcesEx")
    def queryMainStreamSourcesEx(ctx, siteUri):  # noqa: N802, N803
        # the reference names the list auxStreams here too
        inputs = runtime_of(ctx).devices.main_stream_sources(siteUri)
        return Reply(auxStreams=inputs_to_aux_streams(inputs))

    @operation("queryVideoOutSrcStateEx")
    def queryVideoOutSrcStateEx(ctx, siteUri):  # noqa: N802, N803
        devices = runtime_of(ctx).devices
        inputs = devices.video_input_states(siteUri)
        shown = devices.screens_shown(siteUri)
        names = [devices.screen_name(siteUri, screen.hd_out) for screen in shown]
        return Reply(videoSourcesInfos=inputs_to_sources_info(inputs)
                     + screens_to_sources_info(shown, names))

    @operation("setVideoOutSrcEx")
    def setVideoOutSrcEx(ctx, siteUri, hdOut, videoSrc):  # noqa: N802, N803
        runtime_of(ctx).devices.set_video_output(siteUri, hdOut, videoSrc)
        return Reply()

    @operation("ctrlCameraEx")
    def ctrlCameraEx(ctx, siteUri, cameraControl):  # noqa: N802, N803
        runtime_of(ctx).devices.control_camera(siteUri, camera_command_from_wire(cameraControl))
        return Reply()

    @operation("setMainAuxStreamSourcesEx")
    def setMainAuxStreamSourcesEx(ctx, siteUri, localMainSrcs, localAuxSrc):  # noqa: N802, N803
        main = [source for source in localMainSrcs or () if source is not None]
        runtime_of(ctx).devices.set_stream_sources(siteUri, main, localAuxSrc)
        return Reply()

    @operation("isSendAuxStreamEx")
    def isSendAuxStreamEx(ctx, siteUri):  # noqa: N802, N803
        return Reply(result=flag_to_wire(runtime_of(ctx).devices.is_sending_aux(siteUri)))

    @operation("isReceiveRemAuxStrmEx")
    def isReceiveRemAuxStrmEx(ctx, siteUri):  # noqa: N802, N803
        return Reply(result=flag_to_wire(runtime_of(ctx).devices.is_receiving_aux(siteUri)))

    @operation("isConnectAuxSourceEx")
    def isConnectAuxSourceEx(ctx, siteUri):  # noqa: N802, N803
        return Reply(result=flag_to_wire(runtime_of(ctx).devices.has_aux_source(siteUri)))

    @operation("querySiteVersionInfoEx")
    def querySiteVersionInfoEx(ctx, siteUri):  # noqa: N802, N803
        version = runtime_of(ctx).devices.site_version(siteUri)
        return Reply(siteDeviceVersionInfo=version_to_wire(version))

    @operation("querySitesInfoEx")
    def querySitesInfoEx(ctx, queryConfig):  # noqa: N802, N803
        gateway = request_context(ctx).gateway
        page = query_directory(gateway.scheduler.directory(), queryConfig, gateway.numbering)
        return Reply(
            sites=[terminal_to_wire(site, gateway.numbering) for site in page.sites],
            pageInfo=page_info_to_wire(page),
        )

    @operation("addSiteInfoEx")
    def addSiteInfoEx(ctx, orgId, siteInfo):  # noqa: N802, N803
        gateway = request_context(ctx).gateway
        org_id = gateway.organizations.require(orgId)
        site = terminal_from_wire(siteInfo, gateway.numbering)
        gateway.scheduler.add_directory_site(replace(site, org_id=org_id))
        return Reply()

    @operation("editSiteInfoEx")
    def editSiteInfoEx(ctx, siteInfo):  # noqa: N802, N803
        gateway = request_context(ctx).gateway
        gateway.scheduler.edit_directory_site(terminal_from_wire(siteInfo, gateway.numbering))
        return Reply()

    @operation("deleteSiteInfoEx")
    def deleteSiteInfoEx(ctx, siteUris):  # noqa: N802, N803
        scheduler = request_context(ctx).gateway.scheduler
        scheduler.delete_directory_sites(site_uris(siteUris, "siteUris"))  # all or none, one transaction
        return Reply()
