"""A simulated terminal: signalling over the MCU's WebSocket, media over one RTCPeerConnection.

It authenticates and registers its URI (the MCU's digest challenge answered with its secret:
rtc/signalling_auth.py; no secret given: the one the public lab provisioning key derives for
its URI, which the MCU's embedded defaults accept), answers the MCU's invites (after a ring delay), declines them, or lets
them ring forever; it can dial in with an access code and password, or call another
registered terminal point to point (`call`; it answers such a call as it answers the MCU's
invite, the caller's offer relayed by the MCU); it hangs up or is hung
up with `bye`; it pings the MCU every 2 s and answers the MCU's pings, so either side sees
the other vanish within HEARTBEAT_MISSES intervals. A lost signalling connection ends the
call and is re-established every second until the terminal is stopped, except after the MCU
refused its credential (`unauthorized`, `locked`: retrying would only count more failures)
or its URI registered from another connection (`replaced`): then it stays disconnected.

Media: one audio and one video transceiver, sendrecv, offering and answering only the codecs
its capabilities declare, in their order. It sends the pre-encoded loop of the negotiated
video codec (H264 preferred, else VP8) and its synthetic voice (as Opus packets it encodes
itself when the call negotiated Opus, else as frames aiortc encodes), and keeps
statistics of what it receives (terminals/receiver.py). With decode_video=False it counts
the complete video frames it receives without decoding them (terminals/frame_counter.py):
a cheap receiver for load tests, with no picture, panes or latency; decode_audio=False
likewise counts the audio frames and hears nothing. With send_video=False (no camera) or
send_audio=False (no microphone) that transceiver is recvonly: the terminal only receives
(a display-only room). It uses the STUN/TURN servers the MCU announces in `registered`.

Content (aux) stream: a third transceiver, the call's second video m-line
(rtc/content_sdp.py). With `content` ("radiograph" or "record": which document's pages come
first) the terminal has a content input (terminals/content_source.py), pre-encoded at
start, and sends it on that m-line only between start_content() and stop_content() (the
floor); with receive_content it decodes the content it receives there (content_stats():
site, page, frame, latency, PSNR, terminals/content_receiver.py). The m-line's direction
says which: sendrecv, sendonly, recvonly, or inactive with neither. content_mline=False
plays an old client: it offers no second video m-line and answers one inactive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import aiohttp
from aiortc import (
    RTCPeerConnection,
    RTCRtpCodecCapability,
    RTCRtpTransceiver,
    RTCSessionDescription,
)

from rtc import aiortc_hooks
from rtc.bandwidth_estimation import disable_bitrate_estimation
from rtc.bfcp.tables import RequestStatus
from rtc.bfcp.transport import ConnectionClosed
from rtc.codec_preferences import codec_preferences, negotiated_codec
from rtc.content_sdp import content_media, mark_content
from rtc.ice import (
    IceServer,
    IceServerError,
    parse_ice_servers,
    rtc_configuration,
    use_media_address,
)
from rtc.jitter_buffer import release_frames_at_marker
from rtc.screen_sdp import extra_screen_count, mark_screens
from rtc.signalling import (
    STATS_INTERVAL_S,
    Answer,
    Auth,
    Bye,
    CameraControl,
    Capabilities,
    Challenge,
    ContentParams,
    Decline,
    Device,
    DeviceUpdate,
    Error,
    FloorParams,
    HeartbeatSchedule,
    InputState,
    Invite,
    Join,
    Joined,
    Message,
    Ping,
    PlaceCall,
    Pong,
    ReceiveStats,
    Register,
    Registered,
    Ringing,
    SendVideo,
    SignallingError,
    Sources,
    parse_message,
)
from rtc.signalling_auth import digest_ha1, digest_response, lab_secret
from terminals.aux_input_page import CONTENT_INPUT_KINDS, InputPage
from terminals.call_state import CallState
from terminals.camera import Camera, CameraPresets, camera_home, read_camera_view
from terminals.camera_track import CameraVideoTrack, LoopCache
from terminals.content_receiver import ContentReceiver, ContentStatus
from terminals.content_source import ContentSource, ContentTrack, Presentation
from terminals.documents import DocumentKind, PageId
from terminals.floor_client import FloorParticipant, FloorRefused, OnFloor
from terminals.main_sources import MainSources
from terminals.marker import ContentReading, Rect, read_content_marker
from terminals.media_sources import (
    DEFAULT_LOOP_FRAMES,
    DEFAULT_VIDEO_FORMAT,
    SUPPORTED_VIDEO_CODECS,
    EncodedLoop,
    SpeechTrack,
    VideoFormat,
    describe_streams,
)
from terminals.receive_report import StreamMeter
from terminals.receiver import AudioReceiver, PaneStatus, VideoReceiver, VideoStats
from terminals.scene import CameraScene
from terminals.send_log import PROCESS_SEND_LOG, SendLog
from terminals.send_requests import SendRequests
from terminals.speech import LevelSchedule, SpeechSynth
from terminals.sync_pattern import SyncPattern

log = logging.getLogger(__name__)

AnswerMode = Literal["answer", "decline", "never"]
ContentKind = Literal["radiograph", "record"]
RECONNECT_DELAY_S = 1.0
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

# Errors that end the terminal's registration attempts (it does not reconnect after them).
_FINAL_ERRORS = frozenset({"unauthorized", "locked", "replaced"})


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
class _Call:
    call_id: str
    pc: RTCPeerConnection
    conf_id: str | None = None
    video_track: CameraVideoTrack | None = None
    speech_track: SpeechTrack | None = None
    content_track: ContentTrack | None = None
    content_transceiver: RTCRtpTransceiver | None = None
    screen_transceivers: list[RTCRtpTransceiver] = field(default_factory=list)  # screens 2..
    tasks: list[asyncio.Task] = field(default_factory=list)


class SimulatedTerminal:
    def __init__(
        self,
        uri: str,
        name: str,
        site_index: int,
        capabilities: Capabilities | None = None,
        answer_mode: AnswerMode = "answer",
        ring_delay_s: float = 1.0,
        media_address: str | None = None,
        video_format: VideoFormat = DEFAULT_VIDEO_FORMAT,
        speech_schedule: LevelSchedule = ((1.0, 0.5),),
        loop_frames: int = DEFAULT_LOOP_FRAMES,
        analyse_every: int = 10,
        site_type: int = 7,
        send_log: SendLog = PROCESS_SEND_LOG,
        decode_video: bool = True,
        decode_audio: bool = True,
        send_video: bool = True,
        send_audio: bool = True,
        secret: str | None = None,
        content: ContentKind | None = None,
        receive_content: bool = True,
        content_size: tuple[int, int] = (1920, 1080),
        content_presentation: Presentation = Presentation.SLIDES,
        content_page_seconds: float = 5.0,
        content_mline: bool = True,
        content_source_size: tuple[int, int] | None = None,
        device: Device | None = None,
        state_dir: Path | None = None,
        content_codecs: Sequence[str] | None = None,
        tls_ca: str | Path | None = None,
        stats_interval_s: float | None = STATS_INTERVAL_S,
        honour_send_requests: bool = True,
        sync_pattern: SyncPattern | None = None,
        keep_call_on_reconnect: bool = False,
    ) -> None:
        """content: the terminal's content input (None: it has none); receive_content: it
        shows received content on a second screen; content_source_size: the size content
        was sent at, for the sharpness figure (None: the size received); content_codecs:
        the codecs its content m-line offers or answers, in order (None: the main video's),
        e.g. a content encoder that does only VP8; tls_ca: a PEM file of the CA (or the
        self-signed certificate) to trust for the MCU's HTTPS signalling and its BFCP over TLS
        (None: the system's trusted CAs); stats_interval_s: how often it reports what it
        receives during a conference call (the `stats` message; None: never);
        honour_send_requests: it sends the size and rate the MCU's `send_video` asks for
        (False: it keeps its own format; terminals/send_requests.py); sync_pattern: flash the
        picture and click in the voice at the same capture instants (terminals/sync_pattern.py;
        None: never); keep_call_on_reconnect: a call whose media is up outlives a lost
        signalling connection (the terminal reconnects and registers again, the call goes
        on), as with an MCU whose media nodes keep running while the gateway restarts
        (docs/runtime.md, "Nodes"); False: losing the signalling ends the call."""
        self.sync_pattern = sync_pattern
        self.keep_call_on_reconnect = keep_call_on_reconnect
        self.uri = uri
        self.tls: ssl.SSLContext | None = (
            ssl.create_default_context(cafile=str(tls_ca)) if tls_ca is not None else None)
        # the signalling credential; None: the public lab key's (rtc/signalling_auth.py)
        self._secret = secret if secret is not None else lab_secret(uri)
        self.refusal: Error | None = None  # why the MCU refused it, once it did
        self.name = name
        self.site_index = site_index
        # what it declares follows what it has: a content input when it owns a content
        # source, a second screen when it shows the content it receives
        self.capabilities = capabilities or Capabilities(
            content_send=content is not None, content_receive=receive_content and content_mline)
        # what it declares at registration (None: the MCU's undeclared device); with one,
        # content_send is what the device says (a connected input that may feed aux; without
        # a content source such an input shows nothing: start_content answers False)
        self.device = device
        if device is not None:
            self.capabilities = replace(self.capabilities, content_send=device.content_send)
        # the current call's BFCP floor participant (terminals/floor_client.py), if offered
        self.floor: FloorParticipant | None = None
        # awaited with True when this terminal gets the content floor, False when it loses
        # it: where the content sender starts and stops
        self.on_floor: OnFloor | None = None
        self.answer_mode: AnswerMode = answer_mode
        self.ring_delay_s = ring_delay_s
        self.media_address = media_address
        self.video_format = video_format
        # the MCU's send_video requests and the format the main video follows
        self.send_requests = SendRequests(video_format, honour_send_requests)
        self.loop_frames = loop_frames
        self.site_type = site_type
        self.send_log = send_log
        self.send_video = send_video
        self.send_audio = send_audio
        self.ice_servers: tuple[IceServer, ...] = ()  # announced by the MCU in `registered`
        self.speech = SpeechSynth(site_index, speech_schedule)
        self.video = VideoReceiver(send_log, analyse_every, decode=decode_video)
        # one receiver per declared screen (rtc/screen_sdp.py), screen 1 the main video's;
        # the screens' hdOut numbers and names as declared (one screen HD1 without a device)
        self.screen_ports: tuple[tuple[int, str], ...] = (
            tuple((screen.id, screen.name) for screen in device.screens)
            if device is not None and device.screens else ((0, "HD1"),))
        self.screens: list[VideoReceiver] = [self.video] + [
            VideoReceiver(send_log, analyse_every, decode=decode_video)
            for _ in self.screen_ports[1:]]
        if content is not None and content not in CONTENT_KINDS:
            raise ValueError(f"content must be one of {sorted(CONTENT_KINDS)}, not {content!r}")
        self.content_mline = content_mline
        self.receive_content = receive_content and content_mline
        self.content_source: ContentSource | None = (
            ContentSource(site_index, content_pages(content), *content_size,
                          presentation=content_presentation,
                          page_seconds=content_page_seconds)
            if content is not None and content_mline else None)
        self.content = ContentReceiver(analyse_every=max(1, min(analyse_every, 5)),
                                       source_size=content_source_size)
        self._content_codec: str | None = None
        self._content_codecs = [c.upper() for c in content_codecs] if content_codecs else None
        self.audio = AudioReceiver(decode=decode_audio)
        self.state: CallState = CallState.IDLE
        self.calls_established = 0
        self._server_url: str | None = None
        self._scene = CameraScene(site_index, name, video_format.width, video_format.height,
                                  loop_frames)
        # One camera per camera input (the undeclared device's: input 0), each with its own
        # home view, moved by the MCU's `camera` messages; presets per input persist in
        # state_dir (None: for this object's life).
        presets_path = state_dir / f"{uri}.camera-presets.json" if state_dir else None
        presets = CameraPresets(presets_path)
        kinds = ({port.id: port.kind for port in device.inputs} if device is not None
                 else dict(UNDECLARED_INPUTS))
        camera_inputs = [i for i, kind in kinds.items() if kind == "camera"]
        self.cameras = {i: Camera(i, presets, camera_home(n))
                        for n, i in enumerate(camera_inputs)}
        # What the main stream shows (the MCU's `sources` messages): at first the first
        # camera (else the first input that may feed the main stream)
        mains = [port.id for port in device.inputs if port.main] if device else [CAMERA_INPUT]
        first = camera_inputs[0] if camera_inputs else (mains or list(kinds))[0]
        self.main_sources = MainSources(self._scene, self.cameras, kinds,
                                        tagged=device is not None, selection=[first])
        self._sync_connected()
        self.aux_source: int | None = None  # the input the MCU chose for content
        self.source_commands: list[tuple[Sources, bool]] = []  # received, obeyed
        self._loops = LoopCache(self.main_sources)
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._registered = asyncio.Event()
        self._refused = asyncio.Event()
        self._challenged = False
        self._run_task: asyncio.Task | None = None
        self._call: _Call | None = None
        self._pending_join: asyncio.Future[Joined | Answer | Decline | Error | Bye] | None = None
        self._joining_call_id: str | None = None
        self._ringing_call_id: str | None = None
        self._ping_seq = 0
        self._pong_waiters: dict[int, asyncio.Future[None]] = {}
        self._last_heard = 0.0
        self._stopping = False
        self._tasks: set[asyncio.Task] = set()
        self._video_codec: str | None = None
        self._audio_codec: str | None = None
        self._frames_sent_before = 0
        self._keyframe_requests_before = 0
        self.call_ended = asyncio.Event()
        self.call_started = asyncio.Event()
        self.camera_commands: list[tuple[CameraControl, bool]] = []  # received, obeyed
        # The SDPs of the latest call: ours (offer or answer) and the other side's.
        self.sdp_sent: str | None = None
        self.sdp_received: str | None = None
        self.stats_interval_s = stats_interval_s
        self.reports_sent: list[ReceiveStats] = []  # the receive reports sent (the last 100)
        self._main_meter, self._content_meter = StreamMeter(), StreamMeter()
        self._metered_call: str | None = None

    def set_sync_pattern(self, pattern: SyncPattern | None) -> None:
        """Start (or stop: None) the sync pattern, in the current call too: its tracks move
        their capture times onto the pattern's grid (less than a frame later)."""
        self.sync_pattern = pattern
        call = self._call
        if call is not None:
            if call.video_track is not None:
                call.video_track.sync = pattern
            if call.speech_track is not None:
                call.speech_track.sync = pattern

    async def set_video_format(self, video_format: VideoFormat) -> None:
        """Send at another format from now on (a camera switching its resolution mid-call):
        the current call's video goes on with the loop at that format, from its keyframe.
        The loops encoded so far are of the old format: a fresh cache replaces them."""
        self.video_format = video_format
        self._loops = LoopCache(self.main_sources)
        call, codec = self._call, self._video_codec
        if call is not None and call.video_track is not None and codec is not None:
            call.video_track.loops = self._loops
            view = self.main_sources.state()
            call.video_track.use_loop(await self._loops.get(codec, view, video_format), view)

    @property
    def decode_video(self) -> bool:
        """Whether received video is decoded (or only counted); a change applies from the
        next call on (a decoder cannot start mid-stream without a keyframe)."""
        return self.video.decode

    @decode_video.setter
    def decode_video(self, decode: bool) -> None:
        for screen in self.screens:
            screen.decode = decode

    @property
    def decode_audio(self) -> bool:
        """Whether received audio is decoded (heard, measurable) or only counted; from the
        next call on."""
        return self.audio.decode

    @decode_audio.setter
    def decode_audio(self, decode: bool) -> None:
        self.audio.decode = decode

    # -- life cycle ---------------------------------------------------------------------

    @property
    def registered(self) -> bool:
        return self._registered.is_set()

    async def start(self, server_url: str, timeout: float = 10.0) -> None:
        """Encode the video loop, connect and register; returns once registered."""
        if self.media_address:
            use_media_address(self.media_address)
        self.send_log.register_site(self.site_index, self.uri,
                                    self.loop_frames / self.video_format.fps)
        preferred = self._video_codecs()[0]
        self._audio_codecs()  # refuse a terminal that could not speak before it registers
        if self.send_video:
            await self._loop_for(preferred)
        if self.content_source is not None:
            await self.content_source.prepare(self._content_video_codecs()[0])
        self._server_url = server_url
        self._session = aiohttp.ClientSession()
        self._run_task = asyncio.get_running_loop().create_task(self._run())
        registered = asyncio.ensure_future(self._registered.wait())
        refused = asyncio.ensure_future(self._refused.wait())
        try:
            await asyncio.wait({registered, refused}, timeout=timeout,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            registered.cancel()
            refused.cancel()
        if self.refusal is not None:
            raise RegistrationRefused(f"{self.uri}: {self.refusal.code}: {self.refusal.message}")
        if not self._registered.is_set():
            raise TimeoutError(f"{self.uri}: not registered within {timeout} s")

    async def stop(self) -> None:
        """Hang up, close the signalling connection and stop reconnecting."""
        self._stopping = True
        for task in list(self._tasks):
            task.cancel()
        await self.hang_up("terminal stopped")
        if self._ws is not None:
            await self._ws.close()
        if self._run_task is not None:
            self._run_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._run_task
        if self._session is not None:
            await self._session.close()
        self.send_log.forget_site(self.site_index)

    async def _run(self) -> None:
        assert self._session is not None and self._server_url is not None
        while not self._stopping and self.refusal is None:
            try:
                async with self._session.ws_connect(self._server_url, heartbeat=None,
                                                    ssl=self.tls or True) as ws:
                    self._ws = ws
                    await self._serve_connection(ws)
            except (aiohttp.ClientError, OSError) as error:
                log.info("%s: signalling unavailable: %s", self.uri, error)
            finally:
                self._ws = None
                self._registered.clear()
            if not (self.keep_call_on_reconnect and self.state == CallState.IN_CALL):
                await self._end_call(notify=False)
            if not self._stopping and self.refusal is None:
                await asyncio.sleep(RECONNECT_DELAY_S)

    async def _serve_connection(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        loop = asyncio.get_running_loop()
        self._last_heard = loop.time()
        self._challenged = False  # registers once per connection: at its first challenge
        heartbeat = loop.create_task(self._heartbeat(ws))
        reporter = loop.create_task(self._report_loop())
        try:
            async for message in ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                self._last_heard = loop.time()
                try:
                    parsed = parse_message(message.data)
                except SignallingError as error:
                    log.warning("%s: bad message from the MCU: %s", self.uri, error)
                    continue
                await self._on_message(parsed)
        finally:
            heartbeat.cancel()
            reporter.cancel()

    async def _report_loop(self) -> None:
        """Every stats_interval_s of a conference call in progress (media connected): the
        `stats` message (docs/signalling.md, "Receive statistics")."""
        if self.stats_interval_s is None:
            return
        while True:
            await asyncio.sleep(self.stats_interval_s)
            report = self.receive_report(time.monotonic())
            if report is not None:
                await self._send(report)
                self.reports_sent = [*self.reports_sent[-99:], report]

    def receive_report(self, now: float) -> ReceiveStats | None:
        """What this terminal received since the previous call of this method in the same
        conference call: the main picture (decoded frames a second, else counted ones; the
        latency of the markers read) and the content stream (null when none arrived); None
        outside a conference call, and at its first reading (no interval yet)."""
        call = self._call
        if call is None or not call.conf_id or self.state != CallState.IN_CALL:
            self._metered_call = None
            return None
        if call.call_id != self._metered_call:
            self._metered_call = call.call_id
            self._main_meter.reset()
            self._content_meter.reset()
        frames = self.video.frames_decoded if self.video.decode else self.video.frames_received
        main = self._main_meter.receipt(now, frames, self.video.recent_latencies())
        content = self._content_meter.receipt(now, self.content.frames_decoded,
                                              self.content.recent_latencies())
        if main is None:
            return None
        if content is not None and content.fps == 0:
            content = None  # no content frame arrived in the interval
        return ReceiveStats(call.call_id, main, content)

    async def _heartbeat(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        loop = asyncio.get_running_loop()
        schedule = HeartbeatSchedule()
        while True:
            now = loop.time()
            await asyncio.sleep(max(0.0, schedule.next_wake(now, self._last_heard) - now))
            now = loop.time()
            if schedule.is_gone(now, self._last_heard):
                log.warning("%s: the MCU is silent, reconnecting", self.uri)
                await ws.close()
                return
            if schedule.take_ping(now):
                self._ping_seq += 1
                await self._send(Ping(self._ping_seq))

    async def _send(self, message: Message) -> None:
        if self._ws is not None and not self._ws.closed:
            await self._ws.send_str(message.to_json())

    # -- messages -----------------------------------------------------------------------

    async def _on_message(self, message: Message) -> None:
        if isinstance(message, Challenge):
            if not self._challenged and not self.registered:
                self._challenged = True
                ha1 = digest_ha1(self.uri, message.realm, self._secret)
                auth = Auth(digest_response(ha1, message.nonce))
                await self._send(Register(self.uri, self.name, self.site_type,
                                          self.capabilities, auth, self.device))
        elif isinstance(message, Error) and message.code in _FINAL_ERRORS \
                and (message.code == "replaced" or not self.registered):
            log.warning("%s: the MCU refused it: %s: %s", self.uri, message.code,
                        message.message)
            self.refusal = message
            self._refused.set()
            if self._ws is not None:
                await self._ws.close()
        elif isinstance(message, Registered):
            try:
                self.ice_servers = parse_ice_servers(message.ice_servers)
            except IceServerError as error:
                log.warning("%s: unusable ICE servers from the MCU: %s", self.uri, error)
            self._registered.set()
        elif isinstance(message, Ping):
            await self._send(Pong(message.seq))
        elif isinstance(message, Pong):
            # any message counts as a sign of life; a round trip may wait for this one
            waiter = self._pong_waiters.pop(message.seq, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
        elif isinstance(message, Invite):
            # The loop keeps only a weak reference to a task: hold it until it is done.
            task = asyncio.get_running_loop().create_task(self._on_invite(message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif isinstance(message, (Joined, Answer, Decline, Error, Bye)) \
                and self._pending_join is not None \
                and message.call_id == self._joining_call_id and not self._pending_join.done():
            self._pending_join.set_result(message)
        elif isinstance(message, Bye):
            if message.call_id == self._ringing_call_id:
                self._ringing_call_id = None  # the MCU gave up (or the caller cancelled)
                if self.state == CallState.RINGING:
                    self.state = CallState.IDLE
            if self._call is not None and message.call_id == self._call.call_id:
                await self._end_call(notify=False)
        elif isinstance(message, CameraControl):
            self._move_camera(message)
        elif isinstance(message, Sources):
            self._choose_sources(message)
        elif isinstance(message, SendVideo):
            self._follow_send_request(message)
        elif isinstance(message, Error):
            log.warning("%s: MCU error %s: %s", self.uri, message.code, message.message)

    def _follow_send_request(self, message: SendVideo) -> None:
        """The MCU asks for another size or rate (terminals/send_requests.py): once the
        call sends video, switch to that format's loop (encoded first if it is new)."""
        call = self._call
        if not self.send_requests.accept(message) or call is None \
                or call.video_track is None or call.video_track.loop is None:
            return  # before the call sends: _start_sending starts at the requested format
        call.tasks.append(asyncio.get_running_loop().create_task(
            self._switch_video(call, message)))

    async def _switch_video(self, call: _Call, message: SendVideo) -> None:
        track, codec = call.video_track, self._video_codec
        if track is None or codec is None:
            return
        video_format = self.send_requests.format()
        view = self.main_sources.state()
        loop = await self._loops.get(codec, view, video_format)
        # a later request, or the end of the call, while the loop was encoded: not this one
        if self.send_requests.current(message) and self._call is call:
            if track.loop is None or track.loop.video_format != video_format:
                self.send_requests.switches.append(video_format)
            track.switch_loop(loop, view)

    def _move_camera(self, message: CameraControl) -> None:
        """Obey the MCU's camera command (terminals/camera.py); a command for an input
        without a camera, or an empty preset, changes nothing."""
        camera = self.cameras.get(message.input)
        obeyed = camera is not None and camera.command(message.action, message.preset,
                                                       time.time())
        self.camera_commands.append((message, obeyed))
        if not obeyed:
            log.info("%s: camera command %s not obeyed", self.uri, message)

    def _choose_sources(self, message: Sources) -> None:
        """Obey the MCU's choice of sources: the main track shows the chosen inputs from
        its next frame (terminals/main_sources.py); one naming an input this terminal does
        not have (or an aux input that cannot feed content) changes nothing."""
        kinds = self.main_sources.kinds
        aux_ok = message.aux is None or message.aux in kinds
        obeyed = aux_ok and self.main_sources.select(message.main)
        if obeyed:
            self.aux_source = message.aux
            self._share_aux_input()
        self.source_commands.append((message, obeyed))
        if not obeyed:
            log.info("%s: sources %s not obeyed", self.uri, message)

    def aux_page(self) -> InputPage | None:
        """What the content stream shares for the chosen aux source: the input's picture
        when the terminal declared its device and the MCU chose one of its PC or
        document-camera inputs; None (the document pages) otherwise."""
        aux = self.aux_source
        kind = None if aux is None or self.device is None else self.main_sources.kinds.get(aux)
        if aux is None or kind not in CONTENT_INPUT_KINDS:
            return None
        return InputPage(kind, aux)

    def _share_aux_input(self) -> None:
        """The content source shares the chosen aux input's picture (aux_page); a call's
        content track switches to it once its loops are encoded (in the background)."""
        source = self.content_source
        if source is None:
            return
        page = self.aux_page()
        if source.pages == (source.document_pages if page is None else (page,)):
            return
        source.show_input(page)
        call, codec = self._call, self._content_codec
        if call is not None and call.content_track is not None and codec is not None \
                and codec in SUPPORTED_VIDEO_CODECS:
            task = asyncio.get_running_loop().create_task(self._switch_content(call, codec))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _switch_content(self, call: _Call, codec: str) -> None:
        assert self.content_source is not None
        loops, pages = await self.content_source.prepare_pages(codec)
        # a later choice or the call's end meanwhile: its own switch (or none) applies
        if self._call is call and call.content_track is not None \
                and pages == self.content_source.pages:
            call.content_track.use_loops(loops, pages)

    def _sync_connected(self) -> None:
        """The main picture shows NO SIGNAL for a chosen input with nothing plugged in."""
        if self.device is None:
            connected = {0: True, 1: self.capabilities.content_send, 2: False, 4: False}
        else:
            connected = {port.id: port.connected for port in self.device.inputs}
        for input_id, plugged in connected.items():
            self.main_sources.set_connected(input_id, plugged)

    async def _on_invite(self, invite: Invite) -> None:
        if self._call is not None or self.state != CallState.IDLE:
            await self._send(Decline(invite.call_id, "busy"))
            return
        if self.answer_mode == "decline":
            await self._send(Decline(invite.call_id, "declined"))
            return
        self.state = CallState.RINGING
        self._ringing_call_id = invite.call_id
        await self._send(Ringing(invite.call_id))
        if self.answer_mode == "never":
            return  # it rings until the MCU gives up (and sends bye)
        await asyncio.sleep(self.ring_delay_s)
        if self.state != CallState.RINGING or self._ringing_call_id != invite.call_id:
            return
        self._ringing_call_id = None
        self.state = CallState.CONNECTING
        self._follow_content(invite.content)
        call = await self._new_call(invite.call_id, offer=invite.sdp)
        call.conf_id = invite.conf_id
        try:
            await call.pc.setRemoteDescription(RTCSessionDescription(invite.sdp, "offer"))
            self._silence_unknown_video(call)
            await self._set_local(call, await call.pc.createAnswer())
            self.sdp_received = invite.sdp
            await self._start_sending(call, call.pc.localDescription.sdp)
        except Exception as error:  # a bad offer must not kill the terminal
            log.warning("%s: cannot answer: %s", self.uri, error)
            await self._send(Decline(invite.call_id, f"cannot answer: {error}"))
            await self._end_call(notify=False)
            return
        await self._send(Answer(invite.call_id, self.sdp_sent or call.pc.localDescription.sdp))
        await self._open_floor(call, invite.floor)

    async def join(self, access_code: str, password: str = "", timeout: float = 15.0) -> str:
        """Dial in (dialingMode 1): returns the conference id, or raises CallRefused."""
        call, reply = await self._offer(
            lambda call_id, sdp: Join(call_id, access_code, password, sdp), Joined, timeout,
            "no answer to join")
        assert isinstance(reply, Joined)
        call.conf_id = reply.conf_id
        self._follow_content(reply.content)
        await self._accept_answer(call, reply.sdp)
        await self._open_floor(call, reply.floor)
        return reply.conf_id

    async def call(self, to: str, timeout: float = 15.0, rate: str = "") -> None:
        """A point-to-point call to the registered terminal `to`: the MCU relays the offer
        and the answer, the media flows between the two terminals. Returns once answered;
        raises CallRefused when the MCU refuses it or the callee declines."""
        call, reply = await self._offer(
            lambda call_id, sdp: PlaceCall(call_id, to, sdp, rate), Answer, timeout,
            "no answer to the call")
        assert isinstance(reply, Answer)
        await self._accept_answer(call, reply.sdp)

    async def _offer(
        self,
        request: Callable[[str, str], Message],
        accepted: type[Message],
        timeout: float,
        no_answer: str,
    ) -> tuple[_Call, Message]:
        """Send our offer in `request` (call id, SDP) and wait for the reply of that call:
        the `accepted` message, or CallRefused (an error, a decline or bye, no reply)."""
        if self._call is not None:
            raise CallRefused("already in a call")
        call_id = uuid.uuid4().hex
        self.state = CallState.CONNECTING
        call = await self._new_call(call_id)
        await self._set_local(call, await call.pc.createOffer())
        self._joining_call_id = call_id
        self._pending_join = asyncio.get_running_loop().create_future()
        await self._send(request(call_id, self.sdp_sent or call.pc.localDescription.sdp))
        try:
            reply = await asyncio.wait_for(self._pending_join, timeout)
        except TimeoutError:
            await self._end_call(notify=True)
            raise CallRefused(no_answer) from None
        finally:
            self._pending_join = None
            self._joining_call_id = None
        if not isinstance(reply, accepted):
            await self._end_call(notify=False)
            detail = reply.message if isinstance(reply, Error) else getattr(reply, "reason", "")
            raise CallRefused(detail, reply.code if isinstance(reply, Error) else "")
        return call, reply

    async def _set_local(self, call: _Call, description: RTCSessionDescription) -> None:
        """Apply our offer or answer, stating the level and size of the video we send."""
        sdp = describe_streams(description.sdp, self.video_format)
        await call.pc.setLocalDescription(RTCSessionDescription(sdp, description.type))
        self.sdp_sent = mark_screens(mark_content(call.pc.localDescription.sdp))

    async def _accept_answer(self, call: _Call, sdp: str) -> None:
        self.sdp_received = sdp
        await call.pc.setRemoteDescription(RTCSessionDescription(sdp, "answer"))
        await self._start_sending(call, sdp)

    # -- the content floor (BFCP) -------------------------------------------------------

    def _follow_content(self, params: ContentParams | None) -> None:
        """Send content as the conference calls for (the call's content parameters): its
        presentation (0 slides; 1 motion and 2 dual stream: motion) at most at the frame rate
        the MCU signalled. Without parameters (a point-to-point call) the source keeps its
        own settings."""
        if params is None or self.content_source is None:
            return
        mode = Presentation.SLIDES if params.presentation == 0 else Presentation.MOTION
        self.content_source.set_presentation(mode, params.fps)

    async def _open_floor(self, call: _Call, params: FloorParams | None) -> None:
        """Connect the call's BFCP floor participant when the MCU offered one. A floor that
        cannot be reached leaves the call up without content floor control."""
        if params is None or self._call is not call:
            return
        participant = FloorParticipant(params, self._floor_changed, self.tls)
        try:
            await participant.connect()
        except (OSError, ConnectionClosed, FloorRefused, TimeoutError) as error:
            log.warning("%s: BFCP floor at %s:%d not reached: %s", self.uri, params.host,
                        params.port, error)
            await participant.close()
            return
        if self._call is not call:  # the call ended meanwhile
            await participant.close()
            return
        self.floor = participant

    async def _floor_changed(self, granted: bool) -> None:
        """The floor was granted (the content starts flowing) or lost (it stops), then the
        on_floor hook is told."""
        if granted:
            self.start_content()
        else:
            self.stop_content()
        if self.on_floor is not None:
            await self.on_floor(granted)

    @property
    def holds_floor(self) -> bool:
        """The MCU granted this terminal the content floor (and did not revoke it)."""
        return self.floor is not None and self.floor.holds_floor

    async def request_floor(self) -> RequestStatus:
        """A person pressing "share": BFCP FloorRequest; GRANTED or DENIED (floor locked to
        another site). FloorRefused for the server's Error, ConnectionClosed without a
        floor connection."""
        if self.floor is None:
            raise ConnectionClosed("this call has no BFCP floor")
        return await self.floor.request()

    async def release_floor(self) -> RequestStatus | None:
        """Stop sharing: BFCP FloorRelease of the granted request (None: nothing held)."""
        if self.floor is None:
            return None
        return await self.floor.release()

    # -- the device: inputs plugged and unplugged ----------------------------------------

    async def plug(self, input_id: int, timeout: float = 5.0) -> None:
        """A source is plugged into the declared input `input_id` (a simulated cable)."""
        await self._set_connected(input_id, True, timeout)

    async def unplug(self, input_id: int, timeout: float = 5.0) -> None:
        """The source of the declared input `input_id` is unplugged."""
        await self._set_connected(input_id, False, timeout)

    async def _set_connected(self, input_id: int, connected: bool, timeout: float) -> None:
        """Change the declared device and tell the MCU (`device`); returns once the MCU has
        handled it (the pong of a ping sent after it: the MCU handles a socket's messages in
        order). ValueError for an input the terminal did not declare."""
        device = self.device
        if device is None or all(port.id != input_id for port in device.inputs):
            raise ValueError(f"{self.uri} declared no input {input_id}")
        inputs = [replace(port, connected=connected) if port.id == input_id else port
                  for port in device.inputs]
        self.device = replace(device, inputs=inputs)
        self.capabilities = replace(self.capabilities, content_send=self.device.content_send)
        self._sync_connected()
        if not self.registered:  # the next register declares it
            return
        await self._send(DeviceUpdate([InputState(input_id, connected)]))
        await self._round_trip(timeout)

    async def _round_trip(self, timeout: float) -> None:
        """A ping and its pong: everything sent before it has been handled by the MCU."""
        self._ping_seq += 1
        seq = self._ping_seq
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pong_waiters[seq] = waiter
        try:
            await self._send(Ping(seq))
            async with asyncio.timeout(timeout):
                await waiter
        finally:
            self._pong_waiters.pop(seq, None)

    async def hang_up(self, reason: str = "hang up") -> None:
        await self._end_call(notify=True, reason=reason)

    # -- media --------------------------------------------------------------------------

    def _video_codecs(self) -> list[str]:
        wanted = [c.upper() for c in self.capabilities.video_codecs]
        codecs = [c for c in SUPPORTED_VIDEO_CODECS if c in wanted]
        if not codecs:
            raise ValueError(f"{self.uri}: none of {wanted} can be sent")
        return codecs

    def _content_video_codecs(self) -> list[str]:
        if self._content_codecs is None:
            return self._video_codecs()
        codecs = [c for c in SUPPORTED_VIDEO_CODECS if c in self._content_codecs]
        if not codecs:
            raise ValueError(f"{self.uri}: none of {self._content_codecs} can be sent")
        return codecs

    async def _loop_for(self, codec: str) -> EncodedLoop:
        """The loop of the current main picture in `codec` (encoded once per picture)."""
        return await self._loops.get(codec, self.main_sources.state(), self.video_format)

    async def _new_call(self, call_id: str, offer: str | None = None) -> _Call:
        """A call's peer connection; answering an `offer`, the content transceiver only when
        it has a content m-line (aiortc cannot leave a transceiver out of an answer)."""
        pc = RTCPeerConnection(rtc_configuration(self.ice_servers))
        call = _Call(call_id, pc)
        self._call = call
        self.send_requests.new_call(call_id)
        self.call_ended.clear()
        if self.send_video:
            call.video_track = CameraVideoTrack(self.site_index, self.main_sources,
                                                self._loops, self.send_log)
            call.video_track.sync = self.sync_pattern
        if self.send_audio:
            call.speech_track = SpeechTrack(self.speech)
            call.speech_track.sync = self.sync_pattern
        audio = pc.addTransceiver(call.speech_track or "audio",
                                  direction="sendrecv" if self.send_audio else "recvonly")
        audio.setCodecPreferences(self._audio_codecs())
        self.audio.count_frames_of(audio.receiver)
        video = pc.addTransceiver(call.video_track or "video",
                                  direction="sendrecv" if self.send_video else "recvonly")
        video.setCodecPreferences(codec_preferences("video", self._video_codecs()))
        self.video.count_frames_of(video.receiver)
        disable_bitrate_estimation(video.receiver)  # the MCU encodes at the booked rate
        release_frames_at_marker(video.receiver)  # each picture a frame interval sooner
        # aiortc asks its sender to encode a keyframe on PLI/FIR; our sender does not encode,
        # so the request goes to the track, which jumps to the loop's next keyframe.
        if call.video_track is not None:
            aiortc_hooks.on_keyframe_request(video.sender, call.video_track.request_keyframe)
        if self.content_mline and (offer is None or content_media(offer) is not None):
            self._add_content_transceiver(call)
            self._add_screen_transceivers(
                call, len(self.screens) - 1 if offer is None
                else min(len(self.screens) - 1, extra_screen_count(offer)))

        @pc.on("track")
        def on_track(track) -> None:
            content = call.content_transceiver
            screens = [t.receiver.track for t in call.screen_transceivers]
            if content is not None and track is content.receiver.track:
                consume = self.content.consume(track)
            elif any(track is screen for screen in screens):
                position = 1 + next(i for i, t in enumerate(screens) if track is t)
                consume = self.screens[position].consume(track)
            else:
                consume = (self.video if track.kind == "video" else self.audio).consume(track)
            call.tasks.append(asyncio.get_running_loop().create_task(consume))

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState == "connected" and self._call is call:
                self.state = CallState.IN_CALL
                self.calls_established += 1
                self.call_started.set()
            elif pc.connectionState == "failed" and self._call is call:
                await self._end_call(notify=True, reason="media failed")

        return call

    def _add_content_transceiver(self, call: _Call) -> None:
        """The content m-line: sent while holding the floor, received when shown."""
        send, receive = self.content_source is not None, self.receive_content
        direction = {(True, True): "sendrecv", (True, False): "sendonly",
                     (False, True): "recvonly", (False, False): "inactive"}[(send, receive)]
        if self.content_source is not None:
            call.content_track = ContentTrack(self.content_source, uri=self.uri)
        transceiver = call.pc.addTransceiver(call.content_track or "video", direction=direction)
        transceiver.setCodecPreferences(codec_preferences("video", self._content_video_codecs()))
        disable_bitrate_estimation(transceiver.receiver)
        release_frames_at_marker(transceiver.receiver)
        if call.content_track is not None:
            aiortc_hooks.on_keyframe_request(transceiver.sender,
                                             call.content_track.request_keyframe)
        call.content_transceiver = transceiver

    def _add_screen_transceivers(self, call: _Call, count: int) -> None:
        """Screens 2.. (rtc/screen_sdp.py): one recvonly video m-line each after the content."""
        for position in range(1, count + 1):
            transceiver = call.pc.addTransceiver("video", direction="recvonly")
            transceiver.setCodecPreferences(codec_preferences("video", self._video_codecs()))
            self.screens[position].count_frames_of(transceiver.receiver)
            disable_bitrate_estimation(transceiver.receiver)
            release_frames_at_marker(transceiver.receiver)
            call.screen_transceivers.append(transceiver)

    def _silence_unknown_video(self, call: _Call) -> None:
        """An offered video m-line the terminal has no transceiver for (content, for an old
        client) is answered inactive: nothing is sent or shown on it."""
        known = {id(t) for t in (call.content_transceiver, *call.screen_transceivers)
                 if t is not None}
        videos = [t for t in call.pc.getTransceivers() if t.kind == "video"]
        for transceiver in videos[1:]:
            if id(transceiver) not in known:
                transceiver.direction = "inactive"

    def _audio_codecs(self) -> list[RTCRtpCodecCapability]:
        """Only the declared audio codecs, in the declared order, offered and answered."""
        codecs = codec_preferences("audio", self.capabilities.audio_codecs)
        if not codecs:
            raise ValueError(f"{self.uri}: none of {self.capabilities.audio_codecs} is known")
        return codecs

    async def _start_sending(self, call: _Call, answer_sdp: str) -> None:
        """Tell the tracks the codecs the answer chose: the voice is sent as Opus packets or
        as frames, the video as that codec's loop."""
        codec = negotiated_codec(answer_sdp, "video")
        if codec is None or codec not in SUPPORTED_VIDEO_CODECS:
            raise ValueError(f"no common video codec (answer chose {codec})")
        self._video_codec = codec
        self._audio_codec = negotiated_codec(answer_sdp, "audio")
        if call.speech_track is not None:
            call.speech_track.use_codec(self._audio_codec)
        if call.video_track is not None:
            view = self.main_sources.state()
            video_format = self.send_requests.format()  # a request that came first: its format
            call.video_track.use_loop(await self._loops.get(codec, view, video_format), view)
            request = self.send_requests.request
            if request is not None and self.send_requests.format() != video_format:
                # asked again while that loop was being encoded: follow the latest
                call.tasks.append(asyncio.get_running_loop().create_task(
                    self._switch_video(call, request)))
        content = content_media(answer_sdp)
        self._content_codec = content.codec if content is not None and content.port else None
        if call.content_track is not None and self.content_source is not None \
                and self._content_codec in SUPPORTED_VIDEO_CODECS:
            call.content_track.use_loops(
                *await self.content_source.prepare_pages(self._content_codec))

    async def _end_call(self, notify: bool, reason: str = "hang up") -> None:
        call, self._call = self._call, None
        if call is None:
            if self.state == CallState.RINGING:
                self._ringing_call_id = None
                self.state = CallState.IDLE
            return
        self.state = CallState.IDLE
        floor, self.floor = self.floor, None
        if floor is not None:
            await floor.close()
        if call.video_track is not None:
            self._frames_sent_before += call.video_track.frames_sent
            self._keyframe_requests_before += call.video_track.keyframe_requests
        if call.content_track is not None:
            call.content_track.stop()
        if notify:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self._send(Bye(call.call_id, reason))
        await call.pc.close()
        for task in call.tasks:
            task.cancel()
        self.call_started.clear()
        self.call_ended.set()

    # -- what the terminal sees and hears -----------------------------------------------

    def set_panes(self, rects: list[Rect] | None) -> None:
        """The panes (fractions of the picture) whose markers the statistics report."""
        self.video.set_panes(rects)

    async def read_panes(self) -> tuple[PaneStatus, ...]:
        """Read the panes of the latest decoded frame now."""
        return await self.video.analyse_latest()

    async def request_keyframe(self) -> int:
        """Ask the MCU for a keyframe of the video it sends (RTCP PLI), as a real endpoint
        does after losing packets; returns how many streams were asked (0 outside a call).
        aiortc has no public call for it (rtc/aiortc_hooks.py)."""
        call = self._call
        if call is None:
            return 0
        asked = 0
        for transceiver in call.pc.getTransceivers():
            if transceiver.kind == "video":
                asked += await aiortc_hooks.request_keyframe(transceiver.receiver)
        return asked

    def received_video_ssrcs(self) -> list[int]:
        """The SSRCs the current call's video arrives on (retransmissions left out); empty
        outside a call or before the first video packet."""
        call = self._call
        if call is None:
            return []
        return [ssrc for transceiver in call.pc.getTransceivers()
                if transceiver.kind == "video"
                for ssrc in aiortc_hooks.remote_media_ssrcs(transceiver.receiver)]

    def heard(self) -> dict[str, float]:
        """Level of each talker of this process in what the MCU sends this terminal."""
        talkers = self.send_log.site_uris()
        levels = self.audio.heard(talkers)
        return {talkers[index]: level for index, level in levels.items()}

    # -- content (aux) stream ---------------------------------------------------------

    @property
    def content_track(self) -> ContentTrack | None:
        """The current call's content track (None outside a call or without content)."""
        return self._call.content_track if self._call is not None else None

    @property
    def content_codec(self) -> str | None:
        """The codec the latest call negotiated on its content m-line."""
        return self._content_codec

    def start_content(self) -> bool:
        """Send the content from now on (the floor is held); False when the terminal has no
        content input or no call that negotiated a content stream."""
        track = self.content_track
        if track is None or self._content_codec is None:
            return False
        track.start_sending()
        return True

    def stop_content(self) -> None:
        """Stop sending content (the floor was released or revoked)."""
        track = self.content_track
        if track is not None:
            track.stop_sending()

    @property
    def sending_content(self) -> bool:
        track = self.content_track
        return track is not None and track.sending

    def content_stats(self) -> ContentStatus:
        """What the second stream shows: site, page, frame index, latency, PSNR / SSIM."""
        return self.content.status()

    async def read_content(self) -> ContentStatus:
        """Analyse the latest received content frame now."""
        return await self.content.analyse_latest()

    async def request_content_keyframe(self) -> int:
        """Ask the MCU for a keyframe of the content it sends (RTCP PLI on the second
        stream); how many streams were asked (0 outside a call or before content)."""
        call = self._call
        if call is None or call.content_transceiver is None:
            return 0
        return await aiortc_hooks.request_keyframe(call.content_transceiver.receiver)

    def snapshot(self, path: str) -> bool:
        return self.video.snapshot(path)

    # -- screens (a multi-screen site: one stream per screen) ----------------------------

    def screen_stats(self) -> list[ScreenStats]:
        """Each declared screen's statistics (screen 1 = the main video's), with its hdOut
        and name; a screen the call did not negotiate decodes nothing."""
        return [ScreenStats(hd_out, name, receiver.stats())
                for (hd_out, name), receiver in zip(self.screen_ports, self.screens,
                                                    strict=True)]

    def set_screen_panes(self, position: int, rects: list[Rect] | None) -> None:
        """The panes whose markers screen `position` (0 = screen 1) reports."""
        self.screens[position].set_panes(rects)

    async def read_screen(self, position: int) -> tuple[PaneStatus, ...]:
        """Read the panes of screen `position`'s latest decoded frame now."""
        return await self.screens[position].analyse_latest()

    async def read_screen_content(self, position: int) -> ContentReading | None:
        """The content marker (site, page) in screen `position`'s latest picture, if any."""
        frame = self.screens[position].last_frame
        if frame is None:
            return None
        return await asyncio.get_running_loop().run_in_executor(
            None, read_content_marker, frame)

    def snapshot_screens(self, directory: Path, stem: str) -> list[str | None]:
        """One PNG per screen, `<stem>-<screen name>.png` in `directory`: the file names
        written (None for a screen with nothing decoded yet)."""
        written: list[str | None] = []
        for (_, name), receiver in zip(self.screen_ports, self.screens, strict=True):
            file_name = f"{stem}-{name}.png"
            written.append(file_name if receiver.snapshot(str(directory / file_name)) else None)
        return written

    @property
    def live_camera_frames(self) -> int:
        """Frames of the current call its camera encoded live (while moving)."""
        track = self._call.video_track if self._call else None
        return track.live_frames_sent if track else 0

    async def read_camera_view(
        self, rect: tuple[float, float, float, float] | None = None
    ) -> tuple[float, float, float] | None:
        """Where the camera shown in the latest decoded picture (or `rect` of it) points:
        (x, y, zoom) read from the room's markers (terminals/camera.py), None if unreadable."""
        frame = self.video.last_frame
        if frame is None:
            return None
        return await asyncio.get_running_loop().run_in_executor(
            None, read_camera_view, frame, rect)

    def stats(self) -> TerminalStats:
        track = self._call.video_track if self._call else None
        return TerminalStats(
            uri=self.uri,
            registered=self.registered,
            state=self.state,
            conf_id=self._call.conf_id if self._call else None,
            video_codec=self._video_codec,
            frames_sent=self._frames_sent_before + (track.frames_sent if track else 0),
            keyframe_requests=self._keyframe_requests_before
            + (track.keyframe_requests if track else 0),
            video=self.video.stats(),
            audio_frames=self.audio.frames_received,
            heard=self.heard(),
            calls=self.calls_established,
            audio_codec=self._audio_codec,
        )
