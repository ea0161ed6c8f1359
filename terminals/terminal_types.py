"""The simulated terminal's (terminals/client.py) public types: what it answers with, its
content kinds, its statistics, and one call's media objects."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Literal

from aiortc import RTCPeerConnection, RTCRtpTransceiver

from rtc.rtp_counts import RtpCounts
from terminals.call_state import CallState
from terminals.camera_track import CameraVideoTrack
from terminals.content_source import ContentTrack
from terminals.documents import DocumentKind, PageId
from terminals.media_sources import SpeechTrack
from terminals.receiver import VideoStats

AnswerMode = Literal["answer", "decline", "never"]
ContentKind = Literal["radiograph", "record"]
CAMERA_INPUT = 0  # the camera's input on the undeclared device (mcu/endpoints.py)
# The undeclared device's inputs (mcu/endpoints.py: camera, PC, document camera, second PC)
UNDECLARED_INPUTS = {0: "camera", 1: "pc", 2: "doc-camera", 4: "pc"}


CONTENT_KINDS: dict[str, DocumentKind] = {
    "radiograph": DocumentKind.RADIOGRAPH, "record": DocumentKind.RECORD}


def content_pages(first: ContentKind) -> tuple[PageId, ...]:
    """A content input's pages: the named document's first, then the other kind's."""
    kind = CONTENT_KINDS[first]
    other = DocumentKind.RECORD if kind is DocumentKind.RADIOGRAPH else DocumentKind.RADIOGRAPH
    return (PageId(kind, 0), PageId(other, 0))


class CallRefused(Exception):
    """A dial-in the MCU answered with an error or a bye; `code`: the error's code ("" for
    a bye, a decline or no answer)."""

    def __init__(self, detail: str, code: str = "") -> None:
        super().__init__(detail)
        self.code = code


class RegistrationRefused(Exception):
    """The MCU refused the terminal's credential (or its URI registered elsewhere)."""



@dataclass(frozen=True)
class ScreenStats:
    """One screen of the terminal: its hdOut, its name, what it decoded and read."""

    hd_out: int
    name: str
    video: VideoStats


@dataclass(frozen=True)
class TerminalStats:
    uri: str
    registered: bool
    state: CallState
    conf_id: str | None
    video_codec: str | None
    frames_sent: int
    keyframe_requests: int
    video: VideoStats
    audio_frames: int
    heard: dict[str, float]  # talker uri (or "#index") -> level
    calls: int = 0
    audio_codec: str | None = None  # "OPUS", "G722", "PCMU", "PCMA" of the last call


@dataclass
class TerminalCall:
    """One call of the terminal: its peer connection, tracks, transceivers and tasks."""

    call_id: str
    pc: RTCPeerConnection
    conf_id: str | None = None
    video_track: CameraVideoTrack | None = None
    speech_track: SpeechTrack | None = None
    content_track: ContentTrack | None = None
    content_transceiver: RTCRtpTransceiver | None = None
    screen_transceivers: list[RTCRtpTransceiver] = field(default_factory=list)  # screens 2..
    tasks: list[asyncio.Task] = field(default_factory=list)
    # the payload bytes its receivers took, counted by the one-step RTP handler (lean_media)
    rtp_counts: RtpCounts = field(default_factory=RtpCounts)


