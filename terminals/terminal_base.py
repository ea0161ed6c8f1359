"""The simulated terminal's (terminals/client.py) state and the parts its other concerns
share: the signalling socket it writes to, the codecs it may send, its loops' cache."""

from __future__ import annotations

import asyncio
import collections
import logging
import ssl
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import aiohttp
from aiortc import RTCRtpCodecCapability

from rtc.codec_preferences import codec_preferences
from rtc.ice import IceServer
from rtc.signalling import (
    STATS_INTERVAL_S,
    Answer,
    Bye,
    CameraControl,
    Capabilities,
    Decline,
    Device,
    Error,
    Joined,
    Message,
    Ping,
    ReceiveStats,
    Sources,
)
from rtc.signalling_auth import lab_secret
from terminals.call_state import CallState
from terminals.camera import Camera, CameraPresets, camera_home
from terminals.camera_track import LoopCache
from terminals.content_receiver import ContentReceiver
from terminals.content_source import ContentSource, Presentation
from terminals.floor_client import FloorParticipant, OnFloor
from terminals.main_sources import MainSources
from terminals.media_sources import (
    DEFAULT_LOOP_FRAMES,
    DEFAULT_VIDEO_FORMAT,
    SUPPORTED_VIDEO_CODECS,
    EncodedLoop,
    VideoFormat,
)
from terminals.receive_report import StreamMeter
from terminals.receiver import AudioReceiver, VideoReceiver
from terminals.scene import CameraScene
from terminals.send_log import PROCESS_SEND_LOG, SendLog
from terminals.send_requests import SendRequests
from terminals.speech import LevelSchedule, SpeechSynth
from terminals.sync_pattern import SyncPattern
from terminals.teardowns import Teardowns
from terminals.terminal_types import (
    CAMERA_INPUT,
    CONTENT_KINDS,
    UNDECLARED_INPUTS,
    AnswerMode,
    ContentKind,
    TerminalCall,
    content_pages,
)

# the terminal's log, one name for all its modules (as when they were one module)
log = logging.getLogger("terminals.client")

ENDED_CALLS_KEPT = 16  # call ids remembered after their end (`_ended_call_ids`)


class TerminalBase:
    """A simulated terminal's state: what it is, has and declares, its receivers, its
    signalling socket (`_send`, `_round_trip`) and the codecs it may send."""

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
        lean_media: bool = True,
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
        (docs/runtime.md, "Nodes"); False: losing the signalling ends the call;
        lean_media: its receivers handle each RTP packet in one step (rtc/receive_path.py)
        and its main video's loop and Opus voice are sent by the direct send path
        (terminals/loop_sender.py),
        from its next call on; False: aiortc's own per-packet handling and RTP loop (the
        anchor benchmarks/terminal_cost.py measures against)."""
        self.lean_media = lean_media
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
        self._call: TerminalCall | None = None
        self._pending_join: asyncio.Future[Joined | Answer | Decline | Error | Bye] | None = None
        self._joining_call_id: str | None = None
        self._ringing_call_id: str | None = None
        self._ping_seq = 0
        self._pong_waiters: dict[int, asyncio.Future[None]] = {}
        self._last_heard = 0.0
        self._stopping = False
        self._tasks: set[asyncio.Task] = set()
        # Calls still being torn down (TerminalMedia._end_call).
        self._closing = Teardowns()  # calls ended, still tearing down (terminal_media)
        # The latest calls ended (either side): the MCU's `unknown_call` for a bye or a stats
        # report that crossed its own bye on the wire is expected, not worth a warning.
        self._ended_call_ids: collections.deque[str] = collections.deque(maxlen=ENDED_CALLS_KEPT)
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

    @property
    def registered(self) -> bool:
        return self._registered.is_set()

    async def _send(self, message: Message) -> None:
        if self._ws is not None and not self._ws.closed:
            await self._ws.send_str(message.to_json())

    def _sync_connected(self) -> None:
        """The main picture shows NO SIGNAL for a chosen input with nothing plugged in."""
        if self.device is None:
            connected = {0: True, 1: self.capabilities.content_send, 2: False, 4: False}
        else:
            connected = {port.id: port.connected for port in self.device.inputs}
        for input_id, plugged in connected.items():
            self.main_sources.set_connected(input_id, plugged)

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

    def _audio_codecs(self) -> list[RTCRtpCodecCapability]:
        """Only the declared audio codecs, in the declared order, offered and answered."""
        codecs = codec_preferences("audio", self.capabilities.audio_codecs)
        if not codecs:
            raise ValueError(f"{self.uri}: none of {self.capabilities.audio_codecs} is known")
        return codecs
