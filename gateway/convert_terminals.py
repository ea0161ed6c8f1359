"""Wire <-> domain conversion of terminals and the site directory (siteMgr): video inputs and
screens as source lists, device versions, camera commands, directory entries and page info.
Part of the wire <-> domain conversion (gateway/convert.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway import wire
from gateway.convert_values import SITE_TYPES, text
from gateway.directory_query import Page
from gateway.enum_numbering import EnumNumbering
from mcu.cdr import RecordPage
from mcu.endpoints import DeviceVersion, VideoInput
from mcu.errors import DomainError, Fault
from mcu.live_conference import CameraCommand
from mcu.model import (
    DirectorySite,
    SiteType,
)
from mcu.screens import ScreenShown

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
