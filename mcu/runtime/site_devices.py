"""A site's devices (WS/T 546 siteMgr): its content (aux) stream, video inputs and outputs,
main/aux stream sources and cameras.

Operations name only the site; they act in the ongoing conference the site is in
(LiveConferences.conference_of) and most need it joined (SITE_NOT_CONNECTED otherwise).
A URI known nowhere (no registered terminal, in no live conference, not in the site
directory, booked in no conference) is SITE_NOT_FOUND before anything else is asked of it:
"this site does not exist" rather than "this site is not in a conference / not joined".
What a terminal has (its version, inputs, screens) comes from its endpoint's description
(mcu/endpoints.py TerminalDevice), found through its registration or the endpoint that
answered its call: what a WebRTC terminal declared (register.device, updated by its
`device` messages), or the documented undeclared device. A request naming an input or a
screen the terminal does not have is OUT_OF_RANGE; one naming an input with nothing plugged
in is SOURCE_NOT_CONNECTED. Video outputs are kept as state and emitted as events; stream
sources (setMainAuxStreamSourcesEx, camAction 21) go to the site's terminal
(StreamSourcesChanged -> the signalling hub's `sources` message), whose main picture shows
them; camera commands go to the camera's terminal (CameraCommanded -> the signalling hub's
`camera` message), which moves its camera.
Changes are emitted like every control operation's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from mcu.endpoints import DeviceVersion, EndpointRegistry, TerminalDevice, VideoInput
from mcu.errors import DomainError, Fault
from mcu.events import (
    CameraCommanded,
    StreamSourcesChanged,
    VideoOutputChanged,
)
from mcu.live_conference import (
    CONFERENCE_TARGET,
    CameraCommand,
    CameraState,
    LiveConference,
    LiveSite,
)
from mcu.runtime.content_floor import ContentFloors
from mcu.runtime.live_conferences import LiveConferences
from mcu.runtime.status import content_sender
from mcu.screens import ScreenShown

HD_OUTPUTS = range(0, 7)  # 0..4 HD1..HD5, 5..6 SD1..SD2
VIDEO_OUT_SOURCES = range(0, 4)  # local main, local aux, remote main, remote aux
CAMERA_STATES = range(0, 2)  # 0 local camera, 1 far-end camera
LOCAL_CAMERA = 0
CAMERA_ACTIONS = range(0, 24)  # WS/T 546 table 11
OBEYED_ACTIONS = range(0, 22)  # motions, stops, reset, autofocus, presets, select source
SELECT_SOURCE = 21  # camAction 21: camSrc becomes the main stream's source
PRESET_ACTIONS = frozenset({18, 19, 20})  # store / activate / clear preset: camPos required
NO_PRESET = 255  # camPos when the action is not a preset action
PRESET_POSITIONS = range(0, 255)
DEFAULT_CAMERA_INPUT = 0  # the camera's input on a device that declares no input kinds
MAX_MAIN_SOURCES = 4  # inputs one main stream shows at once (rtc/signalling.py's limit too)


class ContentMedia(Protocol):
    """What the media plane says of content streams (mcu/media/engine.py MediaEngine)."""

    def content_sending(self, conf_id: str, uri: str) -> bool: ...

    def content_receiving(self, conf_id: str, uri: str) -> bool: ...

    def screens_shown(self, conf_id: str, uri: str) -> list[ScreenShown]: ...


class SiteDevices:
    def __init__(
        self, conferences: LiveConferences, registry: EndpointRegistry, floors: ContentFloors
    ) -> None:
        self.floors = floors
        self.conferences = conferences
        self.events = conferences.events
        self.registry = registry
        # the media plane, once it runs (MediaEngine.start); None: a runtime without media
        self.content_media: ContentMedia | None = None

    def require_known(self, uri: str) -> None:
        """SITE_NOT_FOUND unless some part of the platform knows the URI: a registered
        terminal, a site of a live conference, or the scheduler (directory or bookings)."""
        if self.registry.lookup(uri) is not None:
            return
        if any(uri in live.sites for live in self.conferences.all()):
            return
        if self.conferences.scheduler.knows_site(uri):
            return
        raise DomainError(Fault.SITE_NOT_FOUND, f"{uri} is known nowhere")

    def _joined(self, uri: str) -> tuple[LiveConference, LiveSite]:
        """The ongoing conference the site is joined in (conference_of), after the
        known-anywhere check."""
        self.require_known(uri)
        return self.conferences.conference_of(uri, connected=True)

    def device(self, uri: str) -> TerminalDevice:
        """The terminal's own description: from its registration, or from the endpoint that
        answered its call. SITE_NOT_FOUND for a URI known nowhere, SITE_NOT_CONNECTED for a
        known site whose terminal is not reachable now."""
        self.require_known(uri)
        endpoint = self.registry.lookup(uri)
        if endpoint is None:
            for live in self.conferences.all():
                site = live.sites.get(uri)
                if site is not None and site.connected and site.call and site.call.endpoint:
                    endpoint = site.call.endpoint
                    break
        if endpoint is None:
            raise DomainError(Fault.SITE_NOT_CONNECTED, f"{uri} is not reachable")
        return endpoint.device

    def site_version(self, uri: str) -> DeviceVersion:
        return self.device(uri).version

    def device_changed(self, uri: str) -> None:
        """The terminal's device changed (an input plugged or unplugged): the content floor
        of the conference it is joined in reads it again (a holder whose content source was
        unplugged loses the floor). Nothing else is derived from it: queries read the
        device when asked."""
        for live in self.conferences.all():
            site = live.sites.get(uri)
            if site is not None and site.connected:
                self.floors.redeclare(uri, live)

    # ------------------------------------------------------------------ content (aux) stream

    def set_aux_stream(self, uri: str, send: bool) -> None:
        """setAuxStreamEx (wire controlCode 0 = start, 1 = stop): the MCU, as the floor's
        chair, grants the content floor to the site (revoking the holder; PRESENTATION_LOCKED
        when it is locked to another site; SOURCE_NOT_CONNECTED when the aux source chosen
        by setMainAuxStreamSourcesEx is unplugged; NOT_SUPPORTED when no content source is
        plugged into any of its aux inputs) or releases it (nothing when it does not hold
        it)."""
        live, site = self._joined(uri)
        if send:
            chosen = site.aux_source
            port = None if chosen is None else self.device(uri).input(chosen)
            if port is not None and not port.connected:
                raise DomainError(Fault.SOURCE_NOT_CONNECTED,
                                  f"nothing is plugged into {uri}'s aux source {chosen}")
            self.floors.grant(uri, live)
        else:
            self.floors.release(uri, live)

    def is_sending_aux(self, uri: str) -> bool:
        """isSendAuxStreamEx: the site holds the content floor and, with a media plane, its
        content frames reached the MCU in the last second (the media's answer: a holder that
        sends nothing is not sending). A runtime without a media plane answers from the
        floor alone."""
        live, _ = self._joined(uri)
        if content_sender(live) != uri:
            return False
        media = self.content_media
        return media is None or media.content_sending(live.conf_id, uri)

    def is_receiving_aux(self, uri: str) -> bool:
        """isReceiveRemAuxStrmEx: the site's second stream carries the conference's content
        now (the media plane's answer: content frames sent to it in the last second). A
        runtime without a media plane (tools, runtime tests) answers from the floor: another
        site holds it and this site's terminal declared it can receive a content stream."""
        live, _ = self._joined(uri)
        if self.content_media is not None:
            return self.content_media.content_receiving(live.conf_id, uri)
        sender = content_sender(live)
        return sender is not None and sender != uri and self.device(uri).content_receive

    def is_content_arriving(self, uri: str) -> bool:
        """Frames of the site's content reached the MCU in the last second (the media
        plane's view of isSendAuxStreamEx; False without a media plane)."""
        live, _ = self._joined(uri)
        media = self.content_media
        return media is not None and media.content_sending(live.conf_id, uri)

    def has_aux_source(self, uri: str) -> bool:
        """isConnectAuxSourceEx: the terminal declared a content input (a source plugged
        into one of its aux inputs)."""
        return self.device(uri).has_content_input

    # ------------------------------------------------------------------ inputs and outputs

    def aux_stream_sources(self, uri: str) -> list[VideoInput]:
        return list(self.device(uri).aux_inputs)

    def main_stream_sources(self, uri: str) -> list[VideoInput]:
        return list(self.device(uri).main_inputs)

    def video_input_states(self, uri: str) -> list[VideoInput]:
        """queryVideoOutSrcStateEx: every input with whether a source is plugged in."""
        return list(self.device(uri).inputs)

    def screens_shown(self, uri: str) -> list[ScreenShown]:
        """queryVideoOutSrcStateEx's screens: what each screen of a site joined with more
        than one screen stream gets now, as the media feeds it (docs/runtime.md,
        "Multi-screen sites"); empty for a single-screen call, a site not joined, or a
        runtime without media."""
        device = self.device(uri)
        media = self.content_media
        if media is None or len(device.outputs) < 2:
            return []
        for live in self.conferences.all():
            site = live.sites.get(uri)
            if site is not None and site.connected:
                shown = media.screens_shown(live.conf_id, uri)
                return shown if len(shown) > 1 else []
        return []

    def screen_name(self, uri: str, hd_out: int) -> str:
        port = self.device(uri).output(hd_out)
        return port.name if port is not None else str(hd_out)

    def set_video_output(self, uri: str, hd_out: int, video_src: int) -> None:
        """setVideoOutSrcEx: hdOut 0..6 (HD1..HD5, SD1, SD2) and one of the terminal's
        screens, videoSrc 0..3 (local main, local aux, remote main, remote aux)."""
        if hd_out not in HD_OUTPUTS:
            raise DomainError(Fault.OUT_OF_RANGE, f"hdOut {hd_out} not in 0..6")
        if video_src not in VIDEO_OUT_SOURCES:
            raise DomainError(Fault.OUT_OF_RANGE, f"videoSrc {video_src} not in 0..3")
        if self.device(uri).output(hd_out) is None:
            raise DomainError(Fault.OUT_OF_RANGE, f"hdOut {hd_out} is not a screen of {uri}")
        live, site = self._joined(uri)
        site.video_outputs[hd_out] = video_src
        self.events.emit(VideoOutputChanged(live.conf_id, uri, hd_out, video_src))

    def video_outputs(self, uri: str) -> dict[int, int]:
        _, site = self._joined(uri)
        return dict(site.video_outputs)

    def set_stream_sources(self, uri: str, main_sources: Sequence[int], aux_source: int) -> None:
        """setMainAuxStreamSourcesEx: main inputs (1..MAX_MAIN_SOURCES, distinct: shown side
        by side in this order, a local multi-picture) and the aux input, each an input of the
        terminal able to feed that stream (OUT_OF_RANGE otherwise) with a source plugged in
        (SOURCE_NOT_CONNECTED otherwise). The terminal is told (StreamSourcesChanged -> the
        signalling hub's `sources` message) and its main picture shows them."""
        if not main_sources:
            raise DomainError(Fault.MISSING_PARAMETER, "localMainSrcs")
        if len(main_sources) > MAX_MAIN_SOURCES:
            raise DomainError(Fault.OUT_OF_RANGE,
                              f"{len(main_sources)} main sources, at most {MAX_MAIN_SOURCES}")
        if len(set(main_sources)) != len(main_sources):
            raise DomainError(Fault.OUT_OF_RANGE, "localMainSrcs names an input twice")
        device = self.device(uri)
        self._check_main_sources(device, uri, main_sources)
        if aux_source not in {port.id for port in device.aux_inputs}:
            raise DomainError(Fault.OUT_OF_RANGE, f"localAuxSrc {aux_source} not an aux input")
        self._check_plugged(device, uri, aux_source)
        live, site = self._joined(uri)
        self._apply_stream_sources(live, site, tuple(main_sources), aux_source)

    @staticmethod
    def _check_main_sources(device: TerminalDevice, uri: str, sources: Sequence[int]) -> None:
        main_ids = {port.id for port in device.main_inputs}
        for source in sources:
            if source not in main_ids:
                raise DomainError(Fault.OUT_OF_RANGE, f"main source {source} not a main input")
        for source in sources:
            SiteDevices._check_plugged(device, uri, source)

    @staticmethod
    def _check_plugged(device: TerminalDevice, uri: str, source: int) -> None:
        port = device.input(source)
        if port is not None and not port.connected:
            raise DomainError(Fault.SOURCE_NOT_CONNECTED,
                              f"nothing is plugged into input {source} of {uri}")

    def _apply_stream_sources(self, live: LiveConference, site: LiveSite,
                              main_sources: tuple[int, ...], aux_source: int | None) -> None:
        site.main_sources, site.aux_source = main_sources, aux_source
        self.events.emit(StreamSourcesChanged(live.conf_id, site.uri, main_sources, aux_source))

    def stream_sources(self, uri: str) -> tuple[tuple[int, ...], int | None]:
        _, site = self._joined(uri)
        return site.main_sources, site.aux_source

    # ------------------------------------------------------------------ cameras

    def control_camera(self, uri: str, command: CameraCommand) -> None:
        """ctrlCameraEx: move a camera, the site's own (camState 0) or the far end's
        (camState 1: the site the requesting site is watching, watched_site), like H.281
        far-end camera control. The command goes to that site's terminal (CameraCommanded,
        which the signalling hub sends as a `camera` message); the terminal moves its camera
        and keeps its presets: the MCU keeps only the last command it relayed.

        camAction 21 (select video source, as H.281's SELECT VIDEO SOURCE) makes input camSrc
        of that site the only source of its main stream, as setMainAuxStreamSourcesEx with
        that one main input and the aux source kept: camSrc must be an input that may feed
        the main stream (OUT_OF_RANGE) with a source plugged in (SOURCE_NOT_CONNECTED).

        Refused, changing nothing: camState not 0/1, camAction not 0..23 (OUT_OF_RANGE);
        22 source switched (a notice, not a command), 23 camera picture-in-picture
        (NOT_SUPPORTED: the simulated cameras do not offer them); preset actions (18-20) need camPos 0..254
        (MISSING_PARAMETER without, OUT_OF_RANGE outside), others take none (None or 255);
        a site not joined (SITE_NOT_CONNECTED); camState 1 with no other site watched
        (FAR_END_CAMERA_UNAVAILABLE); camSrc not an input of the camera's terminal
        (OUT_OF_RANGE) or an input without a camera connected (NO_CAMERA)."""
        if command.cam_state not in CAMERA_STATES:
            raise DomainError(Fault.OUT_OF_RANGE, f"camState {command.cam_state} not 0 or 1")
        if command.action not in CAMERA_ACTIONS:
            raise DomainError(Fault.OUT_OF_RANGE, f"camAction {command.action} not in 0..23")
        if command.action not in OBEYED_ACTIONS:
            raise DomainError(Fault.NOT_SUPPORTED, f"camAction {command.action} not offered")
        position = command.position
        if command.action in PRESET_ACTIONS:
            if position is None:
                raise DomainError(Fault.MISSING_PARAMETER, "camPos is required for presets")
            if position not in PRESET_POSITIONS:
                raise DomainError(Fault.OUT_OF_RANGE, f"camPos {position} not in 0..254")
        elif position not in (None, NO_PRESET):
            raise DomainError(Fault.OUT_OF_RANGE, f"camPos must be 255 for action {command.action}")
        else:
            position = None
        live, site = self._joined(uri)
        target = uri if command.cam_state == LOCAL_CAMERA else self.watched_site(live, site)
        device = self.device(target)
        port = device.input(command.source)
        if port is None:
            raise DomainError(Fault.OUT_OF_RANGE, f"camSrc {command.source} not an input of {target}")
        if command.action == SELECT_SOURCE:
            self._check_main_sources(device, target, (command.source,))
            site.camera.last_command = CameraCommand(command.cam_state, command.action, None,
                                                     command.source)
            target_site = live.sites[target]
            self._apply_stream_sources(live, target_site, (command.source,),
                                       target_site.aux_source)
            return
        if not (is_camera(port) and port.connected):
            raise DomainError(Fault.NO_CAMERA, f"no camera on input {command.source} of {target}")
        normalised = CameraCommand(command.cam_state, command.action, position, command.source)
        site.camera.last_command = normalised
        self.events.emit(
            CameraCommanded(
                live.conf_id, target, command.cam_state, command.action, position,
                command.source, requested_by=uri,
            )
        )

    def watched_site(self, live: LiveConference, site: LiveSite) -> str:
        """The far end of a site's camera control: the other joined site it is watching.
        Its video source (setVideoSourceEx), else the conference's broadcast site, else the
        site in the main (first) pane of the CP picture it sees, else the current speaker.
        FAR_END_CAMERA_UNAVAILABLE when none of them is another joined site."""
        def joined_other(uri: str | None) -> bool:
            other = live.sites.get(uri) if uri else None
            return other is not None and other.uri != site.uri and other.connected

        if joined_other(site.video_source):
            assert site.video_source is not None
            return site.video_source
        if not live.broadcast_cp and joined_other(live.broadcast_site):
            assert live.broadcast_site is not None
            return live.broadcast_site
        layout = live.layouts.get(site.uri) or live.layouts.get(CONFERENCE_TARGET)
        if layout is not None and layout.sub_pics and joined_other(layout.sub_pics[0]):
            return layout.sub_pics[0]
        if joined_other(live.speaking):
            assert live.speaking is not None
            return live.speaking
        raise DomainError(Fault.FAR_END_CAMERA_UNAVAILABLE,
                          f"{site.uri} watches no other site whose camera it could move")

    def camera_state(self, uri: str) -> CameraState:
        """The last camera command the MCU relayed for a joined site."""
        _, site = self._joined(uri)
        return site.camera


def is_camera(port: VideoInput) -> bool:
    """A camera input: the kind the terminal declared for it when it declares kinds, else
    (today's simulated device, which declares none) input 0, its camera."""
    kind = getattr(port, "kind", None)
    if kind is not None:
        return str(getattr(kind, "value", kind)).lower() == "camera"
    return port.id == DEFAULT_CAMERA_INPUT
