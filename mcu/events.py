"""What the live conference runtime tells its listeners (the media engine, later the web pages).

Events flow one way: the runtime changes its state first, then emits one typed event per
change. A listener never changes runtime state from inside a callback; it reacts (re-layout,
re-mix) on its own objects. No listener is required: until the media plane exists the
runtime's state is the truth that queries answer from.
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
class ConferenceStarted:
    conf_id: str


@dataclass(frozen=True)
class ConferenceEnded:
    conf_id: str


@dataclass(frozen=True)
class SiteCallStateChanged:
    conf_id: str
    uri: str
    state: SiteCallState
    reason: ErrorInfo | None = None


@dataclass(frozen=True)
class SiteMuted:
    """muted: the site's microphone no longer reaches the conference mix."""

    conf_id: str
    uri: str
    muted: bool


@dataclass(frozen=True)
class SiteQuieted:
    """quiet: the site hears nothing from the conference."""

    conf_id: str
    uri: str
    quiet: bool


@dataclass(frozen=True)
class SiteVolumeChanged:
    conf_id: str
    uri: str
    volume: int


@dataclass(frozen=True)
class LocalVideoChanged:
    conf_id: str
    uri: str
    open: bool


@dataclass(frozen=True)
class VideoSourceChanged:
    """The site now watches video_source (a site URI) instead of the conference default."""

    conf_id: str
    uri: str
    video_source: str | None
    locked: bool


@dataclass(frozen=True)
class BroadcastChanged:
    """What every site watches by default: one site, the conference CP, or neither."""

    conf_id: str
    site: str | None
    continuous_presence: bool


@dataclass(frozen=True)
class LayoutChanged:
    """target "" is the conference's picture; otherwise the URI of the site whose own picture
    changed. sub_pics are pane sources in pane order (a URI, "uri(%AUX1)", or "" for empty)."""

    conf_id: str
    target: str
    mode: int
    sub_pics: tuple[str, ...]


@dataclass(frozen=True)
class AudioSwitchChanged:
    conf_id: str
    enabled: bool
    gate: int


@dataclass(frozen=True)
class SpeakerChanged:
    conf_id: str
    speaking: str | None


@dataclass(frozen=True)
class ChairChanged:
    conf_id: str
    chair: str | None


@dataclass(frozen=True)
class FloorChanged:
    conf_id: str
    floor: str | None


@dataclass(frozen=True)
class PresentationChanged:
    """holder sends the aux (content) stream; locked: nobody else may take the token."""

    conf_id: str
    holder: str | None
    locked: bool


@dataclass(frozen=True)
class RecordingChanged:
    conf_id: str
    recording: bool


@dataclass(frozen=True)
class LiveBroadcastChanged:
    conf_id: str
    live: bool


@dataclass(frozen=True)
class CameraCommanded:
    conf_id: str
    uri: str
    cam_state: int
    action: int
    position: int | None
    source: int


@dataclass(frozen=True)
class VideoOutputChanged:
    conf_id: str
    uri: str
    hd_out: int
    video_src: int


@dataclass(frozen=True)
class StreamSourcesChanged:
    conf_id: str
    uri: str
    main_sources: tuple[int, ...]
    aux_source: int


RuntimeEvent = (
    ConferenceStarted
    | ConferenceEnded
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
