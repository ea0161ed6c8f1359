"""The state of one running conference occurrence: who is connected, muted, speaking, which
picture each site sees. Plain data; the rules that change it live in the parts of
mcu/runtime/ (see its package docstring).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from mcu.calls import Call
from mcu.events import ErrorInfo
from mcu.floor import Floor
from mcu.layouts import LAYOUT_MODES, layout_mode
from mcu.model import Conference, Occurrence, SiteCallState, SiteSpec

DEFAULT_VOLUME = 50  # 0..100 scale; the media engine maps it to a gain, 50 = unity
DEFAULT_SWITCH_GATE = 15  # WS/T 546 table 8: switchGate 0 means "the default (15)"
CONFERENCE_TARGET = ""  # the conference's own CP picture (target "" or "0" on the wire)
CP_MODES = range(len(LAYOUT_MODES))  # WS/T 546 table 63: 0..49


@dataclass(frozen=True)
class CpSetting:
    """A continuous-presence picture: layout mode (WS/T 546 table 63) and pane sources."""

    mode: int = 0
    sub_pics: tuple[str, ...] = ()


@dataclass(frozen=True)
class CameraCommand:
    """CameraControlEx. position is None when the action is not a preset action (wire 255)."""

    cam_state: int
    action: int
    position: int | None
    source: int


@dataclass
class CameraState:
    """The last camera command a site gave that the MCU relayed to a terminal. The cameras'
    positions and presets are the terminals' own (terminals/camera.py)."""

    last_command: CameraCommand | None = None


@dataclass
class LiveSite:
    spec: SiteSpec
    call: Call | None = None
    last_failure: ErrorInfo | None = None
    muted: bool = False
    quiet: bool = False
    volume: int = DEFAULT_VOLUME
    local_video_open: bool = True
    video_source: str | None = None
    video_source_locked: bool = False
    camera: CameraState = field(default_factory=CameraState)
    video_outputs: dict[int, int] = field(default_factory=dict)  # hdOut -> videoSrc
    main_sources: tuple[int, ...] = ()
    aux_source: int | None = None

    @property
    def uri(self) -> str:
        return self.spec.uri

    @property
    def state(self) -> SiteCallState:
        return self.call.state if self.call is not None else SiteCallState.NOT_JOINED

    @property
    def connected(self) -> bool:
        return self.state is SiteCallState.IN_CONFERENCE

    @property
    def failure(self) -> ErrorInfo | None:
        if self.call is not None and self.call.failure is not None:
            return self.call.failure
        return self.last_failure


@dataclass
class LiveConference:
    conference: Conference
    occurrence: Occurrence
    sites: dict[str, LiveSite] = field(default_factory=dict)
    chair: str | None = None
    floor: str | None = None
    broadcast_site: str | None = None
    broadcast_cp: bool = False
    speaking: str | None = None
    audio_switch: bool = False
    switch_gate: int = DEFAULT_SWITCH_GATE
    locked: bool = False  # no operation of this interface locks a conference; kept for status
    # the content floor (mcu/floor.py, mcu/runtime/content_floor.py): who sends the aux
    # stream; ConferenceStatus.presentation is its holder
    content_floor: Floor = field(default_factory=Floor)
    bfcp_conference_id: int = 0  # RFC 8856 confid; 0 until a call is offered the floor
    bfcp_users: dict[int, str] = field(default_factory=dict)  # RFC 8856 userid -> site URI
    recording: bool = False
    live_broadcast: bool = False
    layouts: dict[str, CpSetting] = field(default_factory=dict)  # target -> picture
    audio_levels: dict[str, float] = field(default_factory=dict)  # joined site -> last level
    # voice switching: the loudest site waiting out the hold, since (Clock.monotonic())
    speaker_candidate: tuple[str, float] | None = None

    @property
    def conf_id(self) -> str:
        return self.conference.conf_id

    @property
    def begin(self) -> datetime:
        return self.occurrence.begin

    @property
    def presentation(self) -> str | None:
        """The site holding the content floor (sending the aux stream), or None."""
        return self.content_floor.holder

    @property
    def presentation_locked(self) -> bool:
        """lockPresentationEx pinned the floor to its holder."""
        return self.content_floor.locked


def cp_pane_count(mode: int) -> int:
    """Panes a mode offers to subPics (and the cpResouce it needs). CP_None's single pane
    follows the broadcast or speaking site, so it takes no subPics and needs no CP resource.
    Raises ValueError for a value outside table 63."""
    layout = layout_mode(mode)
    return 0 if layout.voice_switched else layout.pane_count
