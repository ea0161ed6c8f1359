"""What the live conference runtime tells its listeners (the media engine, the signalling hub).

Events flow one way: the runtime changes its state first, then emits one typed event per
change. A listener never changes runtime state from inside a callback; it reacts (re-layout,
re-mix) on its own objects. No listener is required: the runtime's state is the truth that
queries answer from.

Every event is about one conference and derives from ConferenceEvent (its conf_id), so a
listener that keeps something per conference finds it with one isinstance check.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from mcu.model import SiteCallState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ErrorInfo:
    """Why a call failed (SiteStatusEx.callFailedReason: errCode + discription)."""

    code: int
    description: str


@dataclass(frozen=True)
class ConferenceEvent:
    """Something changed in the live conference conf_id."""

    conf_id: str


@dataclass(frozen=True)
class ConferenceStarted(ConferenceEvent):
    """The conference's occurrence began: its live state exists, dial-out calls are placed."""


@dataclass(frozen=True)
class ConferenceEnded(ConferenceEvent):
    """Every site was hung up and the live state is gone."""


@dataclass(frozen=True)
class BookingChanged(ConferenceEvent):
    """The booking of the running conference changed (editScheduledConfEx, addSiteToConfEx,
    delSiteFromConfEx, prolongScheduledConfEx, ...) and its live state follows it: sites
    added are booked, not joined; removed ones were hung up; the end moved. Emitted after the
    live state changed, once per change (Lifecycle._follow_booking)."""


@dataclass(frozen=True)
class SiteCallStateChanged(ConferenceEvent):
    uri: str
    state: SiteCallState
    reason: ErrorInfo | None = None


@dataclass(frozen=True)
class SiteMuted(ConferenceEvent):
    """muted: the site's microphone no longer reaches the conference mix."""

    uri: str
    muted: bool


@dataclass(frozen=True)
class SiteQuieted(ConferenceEvent):
    """quiet: the site hears nothing from the conference."""

    uri: str
    quiet: bool


@dataclass(frozen=True)
class SiteVolumeChanged(ConferenceEvent):
    uri: str
    volume: int


@dataclass(frozen=True)
class LocalVideoChanged(ConferenceEvent):
    uri: str
    open: bool


@dataclass(frozen=True)
class VideoSourceChanged(ConferenceEvent):
    """The site now watches video_source (a site URI) instead of the conference default."""

    uri: str
    video_source: str | None
    locked: bool


@dataclass(frozen=True)
class BroadcastChanged(ConferenceEvent):
    """What every site watches by default: one site, the conference CP, or neither."""

    site: str | None
    continuous_presence: bool


@dataclass(frozen=True)
class LayoutChanged(ConferenceEvent):
    """target "" is the conference's picture; otherwise the URI of the site whose own picture
    changed. sub_pics are pane sources in pane order (a URI, "uri(%AUX1)", or "" for empty)."""

    target: str
    mode: int
    sub_pics: tuple[str, ...]


@dataclass(frozen=True)
class AudioSwitchChanged(ConferenceEvent):
    enabled: bool
    gate: int


@dataclass(frozen=True)
class SpeakerChanged(ConferenceEvent):
    speaking: str | None


@dataclass(frozen=True)
class ChairChanged(ConferenceEvent):
    chair: str | None


@dataclass(frozen=True)
class FloorChanged(ConferenceEvent):
    floor: str | None


@dataclass(frozen=True)
class PresentationChanged(ConferenceEvent):
    """holder sends the aux (content) stream; locked: nobody else may take the token."""

    holder: str | None
    locked: bool


@dataclass(frozen=True)
class RecordingChanged(ConferenceEvent):
    recording: bool


@dataclass(frozen=True)
class LiveBroadcastChanged(ConferenceEvent):
    live: bool


@dataclass(frozen=True)
class CameraCommanded(ConferenceEvent):
    """ctrlCameraEx accepted: move the camera on input `source` of site `uri`'s terminal;
    `requested_by` the site whose command it is (itself for camState 0)."""

    uri: str
    cam_state: int
    action: int
    position: int | None
    source: int
    requested_by: str = ""


@dataclass(frozen=True)
class VideoOutputChanged(ConferenceEvent):
    uri: str
    hd_out: int
    video_src: int


@dataclass(frozen=True)
class StreamSourcesChanged(ConferenceEvent):
    """The inputs feeding site `uri`'s main stream (in order) and its aux stream (None: not
    chosen) changed: setMainAuxStreamSourcesEx or ctrlCameraEx camAction 21."""

    uri: str
    main_sources: tuple[int, ...]
    aux_source: int | None


RuntimeEvent = (
    ConferenceStarted
    | ConferenceEnded
    | BookingChanged
    | SiteCallStateChanged
    | SiteMuted
    | SiteQuieted
    | SiteVolumeChanged
    | LocalVideoChanged
    | VideoSourceChanged
    | BroadcastChanged
    | LayoutChanged
    | AudioSwitchChanged
    | SpeakerChanged
    | ChairChanged
    | FloorChanged
    | PresentationChanged
    | RecordingChanged
    | LiveBroadcastChanged
    | CameraCommanded
    | VideoOutputChanged
    | StreamSourcesChanged
)

Listener = Callable[[RuntimeEvent], None]


class EventBus:
    """Synchronous fan-out on the event loop's thread. A failing listener is logged and skipped:
    a media problem must not turn an accepted control command into an error."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def emit(self, event: RuntimeEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("runtime event listener failed on %r", event)
