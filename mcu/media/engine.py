"""The media engine: one ConferenceMedia per live conference, driven by the runtime's events,
and a worker pool that composes and encodes off the event loop.

Endpoints (the WebRTC endpoint of each registered terminal) ask it for the media of a call
(`open_site`) before they negotiate, and hand it the remote tracks as they arrive.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from mcu.calls import Call
from mcu.errors import DomainError, Fault
from mcu.events import (
    ConferenceEnded,
    ConferenceEvent,
    ConferenceStarted,
    LiveBroadcastChanged,
    RecordingChanged,
    RuntimeEvent,
)
from mcu.media.conference_media import ConferenceMedia, GroupStats, InputStats
from mcu.media.encoder_group import KEYFRAME_MIN_INTERVAL_S
from mcu.media.heap_trim import HeapTrimmer
from mcu.media.live_hls import HlsBroadcast, live_directory
from mcu.media.live_viewers import LiveViewer
from mcu.media.media_totals import MediaTotals
from mcu.media.mixed_speakers import DEFAULT_MIXED_SPEAKERS
from mcu.media.output_format import (
    DEFAULT_VIDEO_FORMAT,
    H264,
    OutputFormat,
    default_bitrate,
    parse_rate,
    picture_size,
)
from mcu.media.recorder import Mp4Recording, recording_path
from mcu.media.recording_push import push_url
from mcu.media.site_media import SiteMedia
from mcu.media.tick_lateness import TickLateness
from mcu.media.video_encoders import EncoderTuning
from mcu.model import Presentation, VideoFormat
from mcu.runtime import ConferenceRuntime
from mcu.screens import ScreenShown
from rtc.ice import IceServer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MediaSettings:
    default_format: VideoFormat = DEFAULT_VIDEO_FORMAT  # for sites booked with videoFormat AUTO
    preferred_codec: str = H264  # offered first when the site's booking does not choose
    tuning: EncoderTuning = field(default_factory=EncoderTuning)
    keyframe_min_interval: float = KEYFRAME_MIN_INTERVAL_S  # mcu/media/encoder_group.py
    mixed_speakers: int = DEFAULT_MIXED_SPEAKERS  # the loudest sites mixed (mixed_speakers.py)
    # STUN/TURN servers of the calls' peer connections, announced to terminals (rtc/ice.py)
    ice_servers: tuple[IceServer, ...] = ()
    # PyAV and libyuv release the GIL: one worker per core lets conferences run in parallel.
    workers: int = field(default_factory=lambda: os.cpu_count() or 2)
    # where recordings go (<data dir>/recordings): recordings/<confId>/<start time>.mp4
    recordings_dir: Path = Path("data/recordings")
    # where live broadcasts are written (<data dir>/live/<confId>/index.m3u8)
    live_dir: Path = Path("data/live")
    # ask each site for the size and rate its largest pane needs (mcu/media/send_ladder.py);
    # False: never ask, every site sends what it chooses and the MCU scales it
    send_ladder: bool = True
    # leave undecoded a voice frame whose RFC 6464 level says nobody would hear it
    # (mcu/media/inline_audio.py); False: every frame of every voice decoded
    voice_gate: bool = True


@dataclass(frozen=True)
class ConferenceMediaStats:
    conf_id: str
    joined: tuple[str, ...]
    encoders: int  # open encoder groups = distinct outputs
    groups: tuple[GroupStats, ...]
    levels: dict[str, int]
    mixed_speakers: tuple[str, ...]  # whose audio is in the mix now
    audio_encoders: int  # Opus encoders open = distinct mixes heard by Opus sites
    audio_frames_encoded: int
    # each joined site's send ladder ask and the size decoded from it now (InputStats)
    inputs: dict[str, InputStats] = field(default_factory=dict)


class MediaEngine:
    def __init__(self, runtime: ConferenceRuntime, settings: MediaSettings | None = None) -> None:
        self.runtime = runtime
        self.settings = settings or MediaSettings()
        self.conferences: dict[str, ConferenceMedia] = {}
        self._executor = ThreadPoolExecutor(
            max_workers=self.settings.workers, thread_name_prefix="media"
        )
        self._unsubscribe: Callable[[], None] | None = None
        self._closing: set[asyncio.Task[None]] = set()
        # an ended call's memory back to the system (heap_trim.py)
        self.heap_trimmer = HeapTrimmer.for_this_process()
        # the counts of ended conferences and of calls closed outside one (media_totals.py)
        self.retired = MediaTotals()
        self._ending: set[ConferenceMedia] = set()  # closing: counted until folded in
        self.tick_lateness = TickLateness()  # every conference's ticks (tick_lateness.py)

    def start(self) -> None:
        """Follow the runtime from now on (conferences already live get their media too)."""
        if self._unsubscribe is None:
            self._unsubscribe = self.runtime.subscribe(self.on_event)
            self.runtime.devices.content_media = self
            self.runtime.recording.recorder_healthy = self.recorder_healthy
            for conf_id in self.runtime.conferences.ids():
                self._start_conference(conf_id)

    async def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
            if self.runtime.devices.content_media is self:
                self.runtime.devices.content_media = None
            if self.runtime.recording.recorder_healthy == self.recorder_healthy:
                self.runtime.recording.recorder_healthy = None
        conferences, self.conferences = list(self.conferences.values()), {}
        await asyncio.gather(*(media.close() for media in conferences), *self._closing)
        await self.heap_trimmer.close()
        self._executor.shutdown(wait=True, cancel_futures=True)

    # ------------------------------------------------------------------ events

    def on_event(self, event: RuntimeEvent) -> None:
        if isinstance(event, ConferenceStarted):
            self._start_conference(event.conf_id)
        elif isinstance(event, ConferenceEnded):
            media = self.conferences.pop(event.conf_id, None)
            if media is not None:
                self._ending.add(media)
                task = asyncio.get_running_loop().create_task(media.close())
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
                task.add_done_callback(functools.partial(self._retire, media))
        elif isinstance(event, RecordingChanged):
            self._follow_recording(event.conf_id, event.recording)
        elif isinstance(event, LiveBroadcastChanged):
            self._follow_live(event.conf_id, event.live)
        elif isinstance(event, ConferenceEvent):
            media = self.conferences.get(event.conf_id)
            if media is not None:
                media.apply(event)

    # ------------------------------------------------------------------ recording

    def recording_format(self, media: ConferenceMedia) -> OutputFormat:
        """The recorder's own output: H.264 Constrained Baseline at the conference's default
        format, at the conference's rate or the format's default bitrate. The file is at its
        size; the recorder joins a site's group of the same picture at that size, codec and
        profile instead of a group at this bitrate when there is one (recorder_groups.py)."""
        size = picture_size(None, media.default_format)
        bitrate = parse_rate(media.conference_rate) or default_bitrate(size)
        return OutputFormat(H264, size.width, size.height, size.fps, bitrate)

    def recorder_healthy(self, conf_id: str) -> bool:
        """Whether the conference's recorder is recording (queryBroadInfoEx): False when it
        failed (its thread died, a disk error, it fell behind) or there is none."""
        media = self.conferences.get(conf_id)
        return media is not None and media.recording is not None and media.recording.healthy

    def _follow_recording(self, conf_id: str, recording: bool) -> None:
        media = self.conferences.get(conf_id)
        if media is None:
            return
        if not recording:
            self._finish(media.stop_recording())
            return
        self._finish(media.stop_recording())  # a failed recorder replaced: its file kept
        started = datetime.now(UTC)
        path = recording_path(self.settings.recordings_dir, conf_id, started)
        live = self.runtime.conferences.get(conf_id)
        target = push_url(live.conference.spec.recorder_addr) if live is not None else None
        media.start_recording(
            Mp4Recording(path, self.recording_format(media), conf_id, started, list(media.joined),
                         push_url=target))

    def _follow_live(self, conf_id: str, live: bool) -> None:
        """Start or stop the conference's HLS broadcast, at the recorder's format (so the
        two share one encoder group)."""
        media = self.conferences.get(conf_id)
        if media is None:
            return
        if not live:
            self._finish(media.stop_live())
            return
        media.start_live(HlsBroadcast(live_directory(self.settings.live_dir, conf_id),
                                      self.recording_format(media), conf_id))

    def _finish(self, recording: Mp4Recording | HlsBroadcast | None) -> None:
        """Wait (at most recorder.JOIN_TIMEOUT_S) for the recorder's or the broadcast's
        thread to close its files, off the loop."""
        if recording is None:
            return
        async def finished() -> None:
            await asyncio.to_thread(recording.join)

        task = asyncio.get_running_loop().create_task(finished())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def _start_conference(self, conf_id: str) -> None:
        if conf_id in self.conferences:
            return
        try:
            spec = self.runtime.scheduler.get(conf_id).spec
            rate, aux_format, presentation = spec.rate, spec.aux_video_format, spec.presentation
        except DomainError:
            rate, aux_format, presentation = None, None, Presentation.FILM
        media = ConferenceMedia(
            conf_id,
            report_levels=self.runtime.voice.report_audio_levels,
            executor=self._executor,
            conference_rate=rate,
            default_format=self.settings.default_format,
            tuning=self.settings.tuning,
            keyframe_min_interval=self.settings.keyframe_min_interval,
            mixed_speakers=self.settings.mixed_speakers,
            aux_video_format=aux_format,
            presentation=presentation,
            tick_lateness=self.tick_lateness,
            send_ladder=self.settings.send_ladder,
            voice_gate=self.settings.voice_gate,
        )
        self.conferences[conf_id] = media
        media.start()
        live = self.runtime.conferences.get(conf_id)
        if live is not None and live.recording:  # recording before a restart: a new file
            self._follow_recording(conf_id, True)
        if live is not None and live.live_broadcast:  # broadcasting before a restart: on again
            self._follow_live(conf_id, True)

    # ------------------------------------------------------------------ calls

    def open_site(self, call: Call) -> SiteMedia:
        """The media of a call being set up; it joins the picture and the mix when the call
        is in the conference, and is dropped when the call ends."""
        conference = self.conferences.get(call.conf_id)
        if conference is None:
            raise DomainError(Fault.CONFERENCE_NOT_ONGOING, call.conf_id)
        media = SiteMedia(call)
        conference.add_site(media)
        return media

    def close_site(self, media: SiteMedia) -> None:
        conference = self.conferences.get(media.call.conf_id)
        if conference is not None:
            conference.remove_site(media)
        elif not media.closed:
            self.retired.add(media.totals())
            media.close()
        self.heap_trimmer.call_ended()

    # ------------------------------------------------------------------ live viewers

    def add_viewer(self, conf_id: str, viewer: LiveViewer) -> ConferenceMedia:
        """A live viewer (mcu/media/live_viewers.py) joins the conference's media; the
        conference picture at the recorder's format. CONFERENCE_NOT_ONGOING without media."""
        media = self.conferences.get(conf_id)
        if media is None:
            raise DomainError(Fault.CONFERENCE_NOT_ONGOING, conf_id)
        media.add_viewer(viewer, self.recording_format(media))
        return media

    def remove_viewer(self, conf_id: str, viewer_id: str) -> None:
        media = self.conferences.get(conf_id)
        if media is not None:
            media.remove_viewer(viewer_id)

    # ------------------------------------------------------------------ content (aux) stream

    def content_sending(self, conf_id: str, uri: str) -> bool:
        """Frames of the site's content reached the MCU in the last second."""
        media = self.conferences.get(conf_id)
        return media is not None and media.content_sending(uri)

    def content_receiving(self, conf_id: str, uri: str) -> bool:
        """The site's second stream carried the conference's content in the last second."""
        media = self.conferences.get(conf_id)
        return media is not None and media.content_receiving(uri)

    def screens_shown(self, conf_id: str, uri: str) -> list[ScreenShown]:
        """What each screen of the site gets now (its call's screen tracks' groups)."""
        media = self.conferences.get(conf_id)
        return media.screens_shown(uri) if media is not None else []

    # ------------------------------------------------------------------ measurements

    def _retire(self, media: ConferenceMedia, _: object = None) -> None:
        self.retired.add(media.totals())  # closed: only its own retired counts are left
        self._ending.discard(media)

    def encoder_groups(self) -> int:
        """Open video encoder groups over the live conferences."""
        return sum(len(media.groups) for media in self.conferences.values())

    def totals(self) -> MediaTotals:
        """Every count of the media plane since it started (media_totals.py)."""
        total = self.retired.plus(MediaTotals())
        for media in [*self.conferences.values(), *self._ending]:
            total.add(media.totals())
        return total

    def stats(self) -> list[ConferenceMediaStats]:
        now = asyncio.get_running_loop().time()
        return [
            ConferenceMediaStats(
                conf_id=conf_id,
                joined=tuple(media.joined),
                encoders=len(media.groups),
                groups=tuple(media.stats(now)),
                levels=dict(media.last_levels),
                mixed_speakers=tuple(sorted(media.mixed_speakers)),
                audio_encoders=len(media.mix_encoders),
                audio_frames_encoded=media.mix_encoders.frames_encoded,
                inputs=media.input_stats(),
            )
            for conf_id, media in self.conferences.items()
        ]
