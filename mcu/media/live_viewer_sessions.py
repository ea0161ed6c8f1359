"""The WebRTC side of the live viewers: one receive-only RTCPeerConnection per viewer.

The MCU offers (it knows how many screens the viewpoint has): sendonly H.264 m-lines (one
per screen, then for a site view one for content) and a sendonly audio m-line, ICE on the
media address like every call (rtc/ice.py); the browser answers. `open` -> (id, offer),
`answer` applies the browser's answer; the viewer is then fed by the conference
(mcu/media/live_viewers.py). It ends on `close`, when its peer connection fails or
closes, when no answer came within ANSWER_TIMEOUT_S or the path is not up within
MEDIA_TIMEOUT_S, and when the conference ends. Each viewer has an owner (the console
session): only the owner answers or closes it, at most MAX_PER_OWNER per owner and
MAX_VIEWERS in all.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field

from aiortc import RTCPeerConnection

from mcu.errors import DomainError, Fault
from mcu.events import ErrorInfo
from mcu.media.engine import MediaEngine
from mcu.media.live_viewers import LiveViewer, Viewpoint
from mcu.media.media_path import MediaPath
from mcu.media.output_format import H264
from mcu.media.webrtc_codecs import NoCommonCodec, _mcu_video_codecs
from mcu.media.webrtc_negotiation import (
    BadOffer,
    apply_remote_description,
    check_media_sections,
    negotiation_bound,
)
from mcu.runtime import ConferenceRuntime
from rtc.codec_preferences import OPUS, codec_preferences
from rtc.deadline import within
from rtc.ice import rtc_configuration

log = logging.getLogger(__name__)

MAX_VIEWERS = 16
MAX_PER_OWNER = 4
ANSWER_TIMEOUT_S = 30.0
MEDIA_TIMEOUT_S = 30.0


@dataclass
class ViewerSession:
    viewer: LiveViewer
    conf_id: str
    owner: str
    pc: RTCPeerConnection
    answered: bool = False
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class LiveViewerSessions:
    """Every live viewer of this process, by id."""

    def __init__(self, engine: MediaEngine, runtime: ConferenceRuntime,
                 ice_servers: tuple = ()) -> None:
        self.engine = engine
        self.runtime = runtime
        self.ice_servers = ice_servers
        self.sessions: dict[str, ViewerSession] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def of_owner(self, owner: str) -> list[ViewerSession]:
        return [session for session in self.sessions.values() if session.owner == owner]

    async def open(self, conf_id: str, viewpoint: Viewpoint, owner: str) -> tuple[str, str]:
        """A new viewer of the live conference `conf_id`: (its id, the MCU's SDP offer).
        CONFERENCE_NOT_ONGOING, SITE_NOT_IN_CONFERENCE (a site view of a site the
        conference does not have) or CAPACITY_EXCEEDED (too many viewers) refuse it."""
        live = self.runtime.conferences.get(conf_id)
        media = self.engine.conferences.get(conf_id)
        if live is None or media is None:
            raise DomainError(Fault.CONFERENCE_NOT_ONGOING, conf_id)
        if viewpoint.site is not None and viewpoint.site not in live.sites:
            raise DomainError(Fault.SITE_NOT_IN_CONFERENCE, viewpoint.site)
        if len(self.sessions) >= MAX_VIEWERS or len(self.of_owner(owner)) >= MAX_PER_OWNER:
            raise DomainError(Fault.CAPACITY_EXCEEDED,
                              f"at most {MAX_VIEWERS} live viewers, {MAX_PER_OWNER} per session")
        screens = 1
        if viewpoint.site is not None:
            site_media = media.sites.get(viewpoint.site)
            screens = max(1, len(site_media.screens())) if site_media is not None else 1
        viewer = LiveViewer(uuid.uuid4().hex, viewpoint, screens)
        pc = RTCPeerConnection(rtc_configuration(list(self.ice_servers)))
        session = ViewerSession(viewer, conf_id, owner, pc)
        video_codecs = _mcu_video_codecs([H264], None)  # Constrained Baseline
        for track in viewer.video_tracks:
            pc.addTransceiver(track, direction="sendonly").setCodecPreferences(video_codecs)
        pc.addTransceiver(viewer.audio, direction="sendonly").setCodecPreferences(
            codec_preferences("audio", [OPUS]))
        self.sessions[viewer.viewer_id] = session
        try:
            offer = await pc.createOffer()
            await pc.setLocalDescription(offer)
            if conf_id not in self.engine.conferences:  # it ended meanwhile
                raise DomainError(Fault.CONFERENCE_NOT_ONGOING, conf_id)
            viewer.on_closed = lambda: self._closed(viewer.viewer_id)
            self.engine.add_viewer(conf_id, viewer)
        except BaseException:
            self.close(viewer.viewer_id)
            raise
        path = MediaPath(pc, self._path_down(viewer.viewer_id))
        self._spawn(session, self._expire(session, path))
        log.info("live viewer %s of %s (%s) opened", viewer.viewer_id, conf_id, viewpoint)
        return viewer.viewer_id, pc.localDescription.sdp

    async def answer(self, viewer_id: str, owner: str, sdp: str) -> None:
        """The browser's answer. A viewer of another owner, or none: SITE_NOT_FOUND; a bad
        answer (unreadable, no H.264 or Opus, answered twice) OUT_OF_RANGE, and the viewer
        is closed."""
        session = self._owned(viewer_id, owner)
        if session.answered:
            raise DomainError(Fault.OUT_OF_RANGE, "this viewer was answered already")
        session.answered = True
        try:
            check_media_sections(sdp)
            async with negotiation_bound():
                await apply_remote_description(session.pc, sdp, "answer")
        except (BadOffer, NoCommonCodec, ValueError) as error:
            self.close(viewer_id)
            raise DomainError(Fault.OUT_OF_RANGE, f"bad SDP answer: {error}") from None
        except Exception as error:  # whatever else aiortc makes of a malformed answer
            log.info("live viewer %s: answer refused", viewer_id, exc_info=True)
            self.close(viewer_id)
            raise DomainError(Fault.OUT_OF_RANGE, f"bad SDP answer: {error!r}") from None

    def close_owned(self, viewer_id: str, owner: str) -> None:
        self._owned(viewer_id, owner)
        self.close(viewer_id)

    def close_owner(self, owner: str) -> None:
        for session in self.of_owner(owner):
            self.close(session.viewer.viewer_id)

    def close(self, viewer_id: str) -> None:
        """The viewer leaves its conference's media and its peer connection closes."""
        session = self.sessions.pop(viewer_id, None)
        if session is None:
            return
        self.engine.remove_viewer(session.conf_id, viewer_id)
        session.viewer.close()
        for task in session.tasks:
            if task is not asyncio.current_task():
                task.cancel()
        closing = asyncio.get_running_loop().create_task(session.pc.close())
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)
        log.info("live viewer %s of %s closed", viewer_id, session.conf_id)

    async def close_all(self) -> None:
        for viewer_id in list(self.sessions):
            self.close(viewer_id)
        await asyncio.gather(*self._closing, return_exceptions=True)

    # -- internals ---------------------------------------------------------------------

    def _owned(self, viewer_id: str, owner: str) -> ViewerSession:
        session = self.sessions.get(viewer_id)
        if session is None or session.owner != owner:
            raise DomainError(Fault.SITE_NOT_FOUND, f"no live viewer {viewer_id!r}")
        return session

    def _closed(self, viewer_id: str) -> None:
        """The conference dropped the viewer (it ended)."""
        if viewer_id in self.sessions:
            self.close(viewer_id)

    def _path_down(self, viewer_id: str):
        def down(reason: ErrorInfo) -> None:
            self.close(viewer_id)
        return down

    async def _expire(self, session: ViewerSession, path: MediaPath) -> None:
        """No answer within ANSWER_TIMEOUT_S, or no media path MEDIA_TIMEOUT_S after: closed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ANSWER_TIMEOUT_S
        while not session.answered and loop.time() < deadline:
            await asyncio.sleep(0.5)
        if session.answered:
            try:
                await within(path.up.wait(), MEDIA_TIMEOUT_S)
                return
            except TimeoutError:
                pass
        self.close(session.viewer.viewer_id)

    def _spawn(self, session: ViewerSession, work) -> None:
        task = asyncio.get_running_loop().create_task(work)
        session.tasks.add(task)
        task.add_done_callback(session.tasks.discard)
