"""TPProfessional.SiteMgr: aux stream, video input and camera control of a site (WS/T 546
4.7) and the site directory (eSDK *SiteInfoEx), served at /services/siteMgr and
/esdk/services/tpProfessionalSiteMgr.

Terminal operations answer from what the terminal declared (mcu/endpoints.py) and act on
the ongoing conference the site is in (mcu/runtime/site_devices.py); like confCtrl they are accepted
asynchronously and refused without any change. The directory operations go to the
scheduler, which persists them in its store.

querySitesInfoEx columns (SortItemEx.itemIndex, FilterBaseEx.columnIndex), numbered in the
order of TerminalInfoEx's members, the capability flattened:

    0 name (string)   1 uri (string)   2 type (int, SiteType)   3 rate (string)
    4 videoProtocol (int, wire numbering)   5 videoFormat (int, wire numbering)

- StringFilterEx matches when its value occurs in the column's text, ignoring case (the
  eSDK example filters names with "VCT2"); a site without a value never matches.
- IntFilterEx (greaterThan, lessThan, equalTo are all required on the wire) matches when
  greaterThan < value < lessThan, or value == equalTo: send an empty range (e.g. 0, 0)
  to filter on equality alone, or an equalTo outside the range to filter on the range.
  Only the int columns 2, 4 and 5 take it. Other filter types fit no column: refused.
- SortItemEx.sort: 0 ascending, 1 descending; several items sort by the first, then the
  next...; sites without a value sort last either way; ties keep URI order.
- pageParam: numberPerPage >= 1, currentPage >= 1 (1-based). A page past the end answers
  no sites with the true totals. focusItem is accepted (>= 0) and does not move the page.

Directory entries keep one video capability (protocol + format): TerminalInfoEx with more
than one capability item or format, and SIP registration credentials (regUser /
regPassword), which the simulator does not keep, are refused with NOT_SUPPORTED rather
than stored in part. addSiteInfoEx's orgId must be given; the simulator has a single
organisation, so it is not stored.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.enum_numbering import EnumNumbering
from gateway.services.common import runtime_of
from gateway.services.conf_ctrl import reads_one
from gateway.soap import GatewayService, Reply, operation, request_context
from gateway.wire import (
    AuxStreamInfoEx,
    DateTimeFilterEx,
    DoubleFilterEx,
    IntFilterEx,
    IPAddressFilterEx,
    PagesInfoEx,
    SiteDeviceVersionInfoEx,
    SiteMicVersionMapEx,
    StringFilterEx,
    TerminalInfoEx,
    VideoCapbilityItemEx,
    VideoSourcesInfoEx,
)
from mcu.endpoints import DeviceVersion, VideoInput
from mcu.errors import DomainError, Fault
from mcu.live_conference import CameraCommand
from mcu.model import DirectorySite, SiteType

ASCENDING, DESCENDING = 0, 1
SITE_TYPES = frozenset(kind.value for kind in SiteType if kind is not SiteType.INVALID)


# ---------------------------------------------------------------------- wire conversions


def inputs_to_aux_streams(inputs: Sequence[VideoInput]) -> list[AuxStreamInfoEx]:
    return [AuxStreamInfoEx(id=port.id, name=port.name) for port in inputs]


def inputs_to_sources_info(inputs: Sequence[VideoInput]) -> list[VideoSourcesInfoEx]:
    """sourcesState: 1 a source is plugged into the input, 0 not (reference example)."""
    return [
        VideoSourcesInfoEx(
            sourcesId=port.id, sourcesState=int(port.connected), sourcesName=port.name
        )
        for port in inputs
    ]


def version_to_wire(version: DeviceVersion) -> SiteDeviceVersionInfoEx:
    return SiteDeviceVersionInfoEx(
        model=version.model,
        license=version.license,
        softVersion=version.soft_version,
        hardVersion=version.hard_version,
        logicVersion=version.logic_version,
        micVersions=[
            SiteMicVersionMapEx(micIP=mic.ip, version=mic.version) for mic in version.mics
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
    rate = info.rate.strip() if info.rate and info.rate.strip() else None
    return DirectorySite(
        uri=info.uri.strip(),
        name=info.name.strip(),
        type=SiteType(info.type),
        rate=rate,
        video_format=video_format,
        video_protocol=protocol,
    )


def terminal_to_wire(site: DirectorySite, numbering: EnumNumbering) -> TerminalInfoEx:
    protocol = numbering.video_protocol_to_wire(site.video_protocol)
    video_format = numbering.video_format_to_wire(site.video_format)
    capability = (
        [VideoCapbilityItemEx(videoProtocol=protocol, videoFormat=[video_format])]
        if protocol is not None and video_format is not None
        else None
    )
    return TerminalInfoEx(
        name=site.name, uri=site.uri, type=int(site.type), rate=site.rate, videoCapbility=capability
    )


# ---------------------------------------------------------------------- directory query


@dataclass(frozen=True)
class Column:
    name: str
    is_int: bool
    value: Callable[[DirectorySite, EnumNumbering], int | str | None]


COLUMNS: tuple[Column, ...] = (
    Column("name", False, lambda site, _: site.name),
    Column("uri", False, lambda site, _: site.uri),
    Column("type", True, lambda site, _: int(site.type)),
    Column("rate", False, lambda site, _: site.rate),
    Column("videoProtocol", True, lambda site, n: n.video_protocol_to_wire(site.video_protocol)),
    Column("videoFormat", True, lambda site, n: n.video_format_to_wire(site.video_format)),
)


def _column(index: int | None, what: str) -> Column:
    if index is None:
        raise DomainError(Fault.MISSING_PARAMETER, f"{what} column index")
    if not 0 <= index < len(COLUMNS):
        raise DomainError(Fault.OUT_OF_RANGE, f"{what} column {index} not in 0..{len(COLUMNS) - 1}")
    return COLUMNS[index]


def _site_filter(wire_filter: Any) -> Callable[[DirectorySite, EnumNumbering], bool]:
    column = _column(wire_filter.columnIndex, "filter")
    if isinstance(wire_filter, StringFilterEx):
        if wire_filter.value is None:
            raise DomainError(Fault.MISSING_PARAMETER, "StringFilterEx.value")
        needle = wire_filter.value.casefold()

        def contains(site: DirectorySite, numbering: EnumNumbering) -> bool:
            value = column.value(site, numbering)
            return value is not None and needle in str(value).casefold()

        return contains
    if isinstance(wire_filter, IntFilterEx):
        bounds = (wire_filter.greaterThan, wire_filter.lessThan, wire_filter.equalTo)
        if None in bounds:
            raise DomainError(
                Fault.MISSING_PARAMETER, "IntFilterEx: greaterThan, lessThan, equalTo"
            )
        if not column.is_int:
            raise DomainError(Fault.OUT_OF_RANGE, f"IntFilterEx on string column {column.name}")
        above, below, equal = bounds

        def in_range(site: DirectorySite, numbering: EnumNumbering) -> bool:
            value = column.value(site, numbering)
            return value is not None and (above < value < below or value == equal)

        return in_range
    if isinstance(wire_filter, DoubleFilterEx | DateTimeFilterEx | IPAddressFilterEx):
        kind = type(wire_filter).__name__
        raise DomainError(Fault.OUT_OF_RANGE, f"{kind}: no site column has that type")
    raise DomainError(
        Fault.MISSING_PARAMETER, "filters: give xsi:type StringFilterEx or IntFilterEx"
    )


def _sorted(
    sites: list[DirectorySite], sort_items: Sequence[Any], numbering: EnumNumbering
) -> list[DirectorySite]:
    keys = []
    for item in sort_items:
        if item is None or item.sort is None:
            raise DomainError(Fault.MISSING_PARAMETER, "sortItems: sort, itemIndex")
        if item.sort not in (ASCENDING, DESCENDING):
            raise DomainError(Fault.OUT_OF_RANGE, f"sort {item.sort} is not 0 or 1")
        keys.append((_column(item.itemIndex, "sort"), item.sort == DESCENDING))
    ordered = sorted(sites, key=lambda site: site.uri)
    # stable sorts from the last key to the first: the first key decides, the next break ties
    for column, descending in reversed(keys):
        present = [site for site in ordered if column.value(site, numbering) is not None]
        absent = [site for site in ordered if column.value(site, numbering) is None]
        present.sort(
            key=lambda site: _sort_value(column.value(site, numbering)), reverse=descending
        )
        ordered = present + absent
    return ordered


def _sort_value(value: int | str | None) -> int | str:
    return value.casefold() if isinstance(value, str) else value


@dataclass(frozen=True)
class SitePage:
    sites: list[DirectorySite]
    total_pages: int
    current_page: int
    total_records: int


def query_directory(
    directory: list[DirectorySite], query_config: Any, numbering: EnumNumbering
) -> SitePage:
    """Filter, sort and page the directory as querySitesInfoEx asks (module docstring)."""
    page = query_config.pageParam
    if page is None or page.numberPerPage is None or page.currentPage is None:
        raise DomainError(Fault.MISSING_PARAMETER, "queryConfig.pageParam")
    if page.numberPerPage < 1:
        raise DomainError(Fault.OUT_OF_RANGE, f"numberPerPage {page.numberPerPage} < 1")
    if page.currentPage < 1:
        raise DomainError(Fault.OUT_OF_RANGE, f"currentPage {page.currentPage} < 1")
    if query_config.focusItem is not None and query_config.focusItem < 0:
        raise DomainError(Fault.OUT_OF_RANGE, f"focusItem {query_config.focusItem} < 0")
    filters = [_site_filter(item) for item in query_config.filters or () if item is not None]
    matching = [site for site in directory if all(test(site, numbering) for test in filters)]
    ordered = _sorted(matching, query_config.sortItems or (), numbering)
    start = (page.currentPage - 1) * page.numberPerPage
    return SitePage(
        sites=ordered[start : start + page.numberPerPage],
        total_pages=math.ceil(len(ordered) / page.numberPerPage),
        current_page=page.currentPage,
        total_records=len(ordered),
    )


def page_info_to_wire(page: SitePage) -> PagesInfoEx:
    return PagesInfoEx(
        totalPages=page.total_pages, currentPage=page.current_page, totalRecords=page.total_records
    )


# ---------------------------------------------------------------------- the service


def _yes_no(value: bool) -> int:
    return 1 if value else 0


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
        inputs = runtime_of(ctx).devices.video_input_states(siteUri)
        return Reply(videoSourcesInfos=inputs_to_sources_info(inputs))

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
        return Reply(result=_yes_no(runtime_of(ctx).devices.is_sending_aux(siteUri)))

    @operation("isReceiveRemAuxStrmEx")
    def isReceiveRemAuxStrmEx(ctx, siteUri):  # noqa: N802, N803
        return Reply(result=_yes_no(runtime_of(ctx).devices.is_receiving_aux(siteUri)))

    @operation("isConnectAuxSourceEx")
    def isConnectAuxSourceEx(ctx, siteUri):  # noqa: N802, N803
        return Reply(result=_yes_no(runtime_of(ctx).devices.has_aux_source(siteUri)))

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
        if not orgId.strip():
            raise DomainError(Fault.MISSING_PARAMETER, "orgId")
        gateway = request_context(ctx).gateway
        gateway.scheduler.add_directory_site(terminal_from_wire(siteInfo, gateway.numbering))
        return Reply()

    @operation("editSiteInfoEx")
    def editSiteInfoEx(ctx, siteInfo):  # noqa: N802, N803
        gateway = request_context(ctx).gateway
        gateway.scheduler.edit_directory_site(terminal_from_wire(siteInfo, gateway.numbering))
        return Reply()

    @operation("deleteSiteInfoEx")
    def deleteSiteInfoEx(ctx, siteUris):  # noqa: N802, N803
        scheduler = request_context(ctx).gateway.scheduler
        uris = list(dict.fromkeys(uri.strip() for uri in siteUris if uri is not None))
        if not uris or not all(uris):
            raise DomainError(Fault.MISSING_PARAMETER, "siteUris: empty site URI")
        scheduler.delete_directory_sites(uris)  # all or none, one transaction
        return Reply()
