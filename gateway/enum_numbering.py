"""VideoFormat / VideoProtocol numbering on the wire.

The domain (mcu.model) uses the eSDK numbering. WS/T 546 tables 4 and 6 drop "auto" and
number the same values from 0, so the two readings collide; the gateway setting
`wire.enum_numbering` chooses: "esdk" (default) passes values through, "wst546" shifts
them by one. Every wire field carrying these enumerations goes through one of the four
functions of the active EnumNumbering (ConferenceInfoEx.auxVideoFormat/auxVideoProtocol,
SiteInfoEx.videoFormat/videoProtocol, TerminalInfoEx / VideoCapbilityItemEx).
"""

from __future__ import annotations

from dataclasses import dataclass

from mcu.errors import DomainError, Fault
from mcu.model import VideoFormat, VideoProtocol

ESDK = "esdk"
WST546 = "wst546"
NUMBERINGS = (ESDK, WST546)

# WS/T 546 table 4 lists 4CIF, 720P30, 1080P30, 480P, 720P60, 1080P60 (0..5); table 6 lists
# H.261, H.263, H.264 (0..2). Values beyond those tables have no WS/T 546 number.
_WST546_FORMATS = (
    VideoFormat.CIF4,
    VideoFormat.HD720P30,
    VideoFormat.HD1080P30,
    VideoFormat.P480,
    VideoFormat.HD720P60,
    VideoFormat.HD1080P60,
)
# This MCU's extension numbers (mcu.model.VideoFormat 15..19: 720P25, 720P50, 1080P25,
# 1080P50, 1080I50, formats of the standard's section 5 that neither table numbers) are the
# same in both numberings: above every number either table gives, so they collide with none.
_EXTENSION_FORMATS = tuple(f for f in VideoFormat if f >= VideoFormat.HD720P25)
_WST546_PROTOCOLS = (VideoProtocol.H261, VideoProtocol.H263, VideoProtocol.H264)


@dataclass(frozen=True)
class EnumNumbering:
    name: str = ESDK

    def __post_init__(self) -> None:
        if self.name not in NUMBERINGS:
            raise ValueError(f"enum numbering must be one of {NUMBERINGS}, not {self.name!r}")

    def video_format_to_domain(self, wire: int | None) -> VideoFormat | None:
        if wire is None:
            return None
        if self.name == WST546:
            if wire in _EXTENSION_FORMATS:
                return VideoFormat(wire)
            return _pick(_WST546_FORMATS, wire, "videoFormat")
        return _member(VideoFormat, wire, "videoFormat")

    def video_format_to_wire(self, value: VideoFormat | None) -> int | None:
        if value is None:
            return None
        if self.name == WST546:
            # auto and formats outside table 4 have no standard number: say nothing
            if value in _EXTENSION_FORMATS:
                return int(value)
            return _WST546_FORMATS.index(value) if value in _WST546_FORMATS else None
        return int(value)

    def video_protocol_to_domain(self, wire: int | None) -> VideoProtocol | None:
        if wire is None:
            return None
        if self.name == WST546:
            return _pick(_WST546_PROTOCOLS, wire, "videoProtocol")
        return _member(VideoProtocol, wire, "videoProtocol")

    def video_protocol_to_wire(self, value: VideoProtocol | None) -> int | None:
        if value is None:
            return None
        if self.name == WST546:
            return _WST546_PROTOCOLS.index(value) if value in _WST546_PROTOCOLS else None
        return int(value)


def _pick(table, wire: int, field: str):
    if 0 <= wire < len(table):
        return table[wire]
    raise DomainError(Fault.OUT_OF_RANGE, f"{field} {wire} is not in the WS/T 546 table")


def _member(enum_type, wire: int, field: str):
    try:
        return enum_type(wire)
    except ValueError:
        raise DomainError(Fault.OUT_OF_RANGE, f"{field} {wire} is out of range") from None
