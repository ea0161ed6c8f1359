"""The media of one live conference: what each site sees and hears.

State comes from the runtime's events only (one-way flow): the conference keeps a mirror of
what matters to media (layouts, broadcast, speaker, video sources, mute/quiet/volume, who
is joined in which order) and acts on it at its next tick. ConferenceMedia holds that
mirror, the sites' media, the encoder groups and the outputs, runs the ticks and keeps the
public methods; the work is done by its parts, one module each:
  - mcu/media/conference_pictures.py: what each site sees (its screens' pictures, how each
    picture is drawn, its format);
  - mcu/media/conference_groups.py: which encoder group feeds each track (regroup);
  - mcu/media/conference_render.py: the video tick (each encoder group at its own frame
    rate; pictures composed and encoded on worker threads, packets to the groups' sites);
  - mcu/media/conference_audio.py: the 20 ms audio step (N-1 mix, levels to the runtime);
  - mcu/media/conference_content.py: the content (aux) stream: the floor holder's frames
    forwarded, transcoded or shown in the main picture (mcu/media/content_routes.py), and
    decoded into `content_in` only while `content_decode_wanted`;
  - mcu/media/conference_outputs.py: the recorder, the live broadcast and the live viewers
    in their groups, and their audio;
  - mcu/media/conference_sends.py: what each site is asked to send (the send ladder);
  - mcu/media/conference_stats.py: the measurements (GroupStats, InputStats, totals).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import av

from mcu.events import (
    AudioSwitchChanged,
    BroadcastChanged,
    LayoutChanged,
    LocalVideoChanged,
    PresentationChanged,
    RuntimeEvent,
    SiteCallStateChanged,
    SiteMuted,
    SiteQuieted,
    SiteVolumeChanged,
    SpeakerChanged,
    VideoOutputChanged,
    VideoSourceChanged,
)
from mcu.media import (
    conference_groups,
    conference_pictures,
    conference_render,
    conference_sends,
    conference_stats,
)
from mcu.media.audio_mixer import FRAME_SECONDS, MixResult
from mcu.media.compositor import Compositor
from mcu.media.conference_audio import ConferenceAudio
from mcu.media.conference_content import ConferenceContent
from mcu.media.conference_pictures import PictureSettings
from mcu.media.conference_render import RenderItem, RenderPlan
from mcu.media.conference_stats import GroupStats, InputStats
from mcu.media.content_forward import ContentForwarder
from mcu.media.content_routes import ContentRoute
from mcu.media.encoder_group import KEYFRAME_MIN_INTERVAL_S, EncoderGroup, GroupKey
from mcu.media.frame_slots import LatestFrameSlot
from mcu.media.live_hls import HlsBroadcast
from mcu.media.live_viewers import LiveViewer
from mcu.media.media_role import MediaRole
from mcu.media.media_totals import MediaTotals
from mcu.media.mix_encoders import MixEncoders
from mcu.media.mixed_speakers import DEFAULT_MIXED_SPEAKERS
from mcu.media.output_format import DEFAULT_VIDEO_FORMAT, OutputFormat
from mcu.media.pictures import PictureKey
from mcu.media.recorder import Mp4Recording
from mcu.media.send_ladder import SendAsk, SendLadder, ShownPicture
from mcu.media.site_media import SiteMedia
from mcu.media.tick_lateness import TickLateness
from mcu.media.video_encoders import EncoderTuning
from mcu.model import Presentation, SiteCallState, SiteSpec, VideoFormat
from mcu.screens import ScreenShown, VideoOutSource

log = logging.getLogger(__name__)

MAX_LATENESS_S = 0.2  # a loop further behind than this skips ahead instead of catching up


@dataclass
class SiteControl:
    muted: bool = False
    quiet: bool = False
    volume: int = 50
    video_source: str | None = None
    local_video_open: bool = True  # hideConfSiteLocalVideoEx: its panes show the placeholder
    # setVideoOutSrcEx: what each screen (hdOut) shows; a screen not named: the default rule
    screen_choices: dict[int, VideoOutSource] = field(default_factory=dict)


class ConferenceMedia:
    def __init__(
        self,
        conf_id: str,
        *,
        report_levels: Callable[[str, Mapping[str, float]], object],
        executor: Executor,
        conference_rate: str | None = None,
        default_format: VideoFormat = DEFAULT_VIDEO_FORMAT,
        tuning: EncoderTuning | None = None,
        keyframe_min_interval: float = KEYFRAME_MIN_INTERVAL_S,
        mixed_speakers: int = DEFAULT_MIXED_SPEAKERS,
        aux_video_format: VideoFormat | None = None,
        presentation: Presentation = Presentation.FILM,
        tick_lateness: TickLateness | None = None,
        send_ladder: bool = True,
        voice_gate: bool = True,
    ) -> None:
        self.conf_id = conf_id
        # what each site is asked to send (mcu/media/send_ladder.py); None: never asked
        self.send_ladder: SendLadder | None = SendLadder() if send_ladder else None
        self.voice_gate = voice_gate  # its sites' voices decoded only if heard (add_site)
        self._settled_at: float | None = None  # when conference_sends last settled the asks
        self.tick_lateness = tick_lateness or TickLateness()  # the engine's, shared
        self.conference_rate = conference_rate
        self.aux_video_format = aux_video_format  # the booking's auxVideoFormat
        self.presentation = presentation  # the booking's presentation (0 slides, 1 motion)
        self.default_format = default_format
        self.tuning = tuning or EncoderTuning()
        self.keyframe_min_interval = keyframe_min_interval
        self.sites: dict[str, SiteMedia] = {}
        self.joined: list[str] = []  # join order: automatic pane assignment follows it
        self.controls: dict[str, SiteControl] = {}
        self.layouts: dict[str, tuple[int, tuple[str, ...]]] = {}
        self.broadcast_site: str | None = None
        self.broadcast_cp = False
        self.speaking: str | None = None
        self.audio_switch = False
        self.groups: dict[GroupKey, EncoderGroup] = {}
        self.encoders_opened = 0
        # the counts of closed groups and calls (media_totals.py), so totals() never go back
        self.retired = MediaTotals()
        self._executor = executor
        self.audio = ConferenceAudio(self, report_levels, mixed_speakers)  # the 20 ms step
        # the video tick's (conference_render.py): one compositor per picture and size, and
        # the pictures being made on the workers
        self._compositors: dict[tuple[PictureKey, tuple[int, int]], Compositor] = {}
        self._rendering: asyncio.Future[Any] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._started_at = 0.0
        self._closed = False
        self.content = ConferenceContent(self)  # the content (aux) stream
        self.recording: Mp4Recording | None = None  # the recorder (mcu/media/recorder.py)
        self.live: HlsBroadcast | None = None  # the live broadcast (mcu/media/live_hls.py)
        # the console's live viewers (mcu/media/live_viewers.py) and the format of the
        # conference picture they watch (the recorder's)
        self.viewers: dict[str, LiveViewer] = {}
        self.viewer_format: OutputFormat | None = None
        # the conference's part in a cascade (mcu/media/media_role.py); None: none
        self.role: MediaRole | None = None

    # ----------------------------------------------------------------------------------- life cycle

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._started_at = loop.time()
        ticks: tuple[tuple[str, Callable[[], Awaitable[None]], Callable[[float], float]], ...] = (
            ("video", self._video_tick, self.next_video_tick),
            ("audio", self._audio_step, lambda previous: previous + FRAME_SECONDS),
        )
        for name, tick, next_at in ticks:
            task = asyncio.create_task(self._run_ticks(tick, next_at), name=f"{name} {self.conf_id}")
            task.add_done_callback(_log_failure)
            self._tasks.append(task)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.role is not None:
            self.role.closed()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._rendering is not None:  # a worker may still be encoding: let it finish first
            await asyncio.gather(self._rendering, return_exceptions=True)
        recording = self.stop_recording()
        if recording is not None:  # the file finished on its thread, not on the loop
            await asyncio.to_thread(recording.join)
        live = self.stop_live()
        if live is not None:
            await asyncio.to_thread(live.join)
        for viewer in list(self.viewers.values()):
            viewer.close()  # its owner closes the peer connection
        self.viewers.clear()
        for media in list(self.sites.values()):
            if not media.closed:  # one closed already was counted where it closed
                self.retired.add(media.totals())
            media.close()
        self.sites.clear()
        for group in self.groups.values():
            self.retired.video_frames_encoded += group.frames_encoded
            group.close()
        self.groups.clear()
        self.content.forwarder.close()

    def add_site(self, media: SiteMedia) -> None:
        """The media of a new call replaces that of the site's previous call."""
        previous = self.sites.get(media.uri)
        if previous is not None and previous is not media:
            self.retired.add(previous.totals())
            previous.close()
        self.sites[media.uri] = media
        if self.voice_gate:
            media.audio_gate = self.audio.decodes  # its voice decoded only if heard
        media.on_content_frame = self.content.frame
        media.on_content_picture = self.content.picture

    def remove_site(self, media: SiteMedia) -> None:
        if self.sites.get(media.uri) is media:
            del self.sites[media.uri]
            self.retired.add(media.totals())
        media.audio_gate = None
        media.close()

    # ------------------------------------------------------------------------------- runtime events

    def apply(self, event: RuntimeEvent) -> None:
        if self.recording is not None:
            self.recording.note(event)
        match event:
            case SiteCallStateChanged(uri=uri, state=state):
                if state is SiteCallState.IN_CONFERENCE:
                    if uri not in self.joined:
                        self.joined.append(uri)
                elif state is SiteCallState.NOT_JOINED:
                    if uri in self.joined:
                        self.joined.remove(uri)
                    media = self.sites.get(uri)
                    if media is not None and not media.call.active:
                        self.remove_site(media)
            case SiteMuted(uri=uri, muted=muted):
                self._control(uri).muted = muted
            case SiteQuieted(uri=uri, quiet=quiet):
                self._control(uri).quiet = quiet
            case SiteVolumeChanged(uri=uri, volume=volume):
                self._control(uri).volume = volume
            case LocalVideoChanged(uri=uri, open=open_):
                self._control(uri).local_video_open = open_
            case VideoSourceChanged(uri=uri, video_source=source):
                self._control(uri).video_source = source
            case VideoOutputChanged(uri=uri, hd_out=hd_out, video_src=video_src):
                self._control(uri).screen_choices[hd_out] = VideoOutSource(video_src)
            case BroadcastChanged(site=site, continuous_presence=cp):
                self.broadcast_site, self.broadcast_cp = site, cp
            case LayoutChanged(target=target, mode=mode, sub_pics=sub_pics):
                self.layouts[target] = (mode, tuple(sub_pics))
            case SpeakerChanged(speaking=speaking):
                self.speaking = speaking
            case AudioSwitchChanged(enabled=enabled):
                self.audio_switch = enabled
            case PresentationChanged(holder=holder):
                self.content.present(holder)
            case _:
                pass

    def _control(self, uri: str) -> SiteControl:
        return self.controls.setdefault(uri, SiteControl())

    # ---------------------------------------------------- what a site sees (conference_pictures.py)

    def picture_for(self, viewer: str) -> PictureKey:
        return conference_pictures.picture_for(self, viewer)

    def multi_screen(self, uri: str) -> bool:
        return conference_pictures.multi_screen(self, uri)

    def watched(self, viewer: str) -> str | None:
        return conference_pictures.watched(self, viewer)

    def screen_pictures(self, viewer: str) -> list[tuple[int, PictureKey]]:
        return conference_pictures.screen_pictures(self, viewer)

    def screens_shown(self, uri: str) -> list[ScreenShown]:
        return conference_pictures.screens_shown(self, uri)

    def picture_settings(self, picture: PictureKey) -> PictureSettings:
        return conference_pictures.picture_settings(self, picture)

    def output_format(self, media: SiteMedia) -> OutputFormat | None:
        return conference_pictures.output_format(self, media)

    # -------------------------------------------------------------- content (conference_content.py)

    @property
    def content_in(self) -> LatestFrameSlot:
        """The holder's content, decoded (while content_decode_wanted)."""
        return self.content.content_in

    @property
    def content_forwarder(self) -> ContentForwarder:
        return self.content.forwarder

    @property
    def content_holder(self) -> str | None:
        return self.content.holder

    def content_source(self) -> str | None:
        return self.content.source()

    def content_format_of(self, site: SiteSpec, codec: str) -> OutputFormat:
        return self.content.format_of(site, codec)

    def content_output(self, media: SiteMedia) -> OutputFormat | None:
        return self.content.output(media)

    def content_route(self, uri: str) -> ContentRoute | None:
        return self.content.route_of(uri)

    def content_forwarded_to(self, media: SiteMedia, codec: str | None) -> bool:
        return self.content.forwarded_to(media, codec)

    def shows_content(self, picture: PictureKey, holder: str) -> bool:
        return self.content.shows(picture, holder)

    @property
    def content_decode_wanted(self) -> bool:
        return self.content.decode_wanted

    @content_decode_wanted.setter
    def content_decode_wanted(self, wanted: bool) -> None:
        self.content.decode_wanted = wanted

    def route_content(self) -> None:
        self.content.route()

    def content_frame(self, uri: str, codec: str, data: bytes, timestamp: int) -> None:
        self.content.frame(uri, codec, data, timestamp)

    def content_picture(self, uri: str, frame: Any) -> None:
        self.content.picture(uri, frame)

    def content_sending(self, uri: str) -> bool:
        return self.content.sending(uri)

    def content_receiving(self, uri: str) -> bool:
        return self.content.receiving(uri)

    # -------------------------------------------------------- encoder groups (conference_groups.py)

    def _group(self, key: GroupKey) -> EncoderGroup:
        return conference_groups.group_for(self, key)

    def regroup(self) -> None:
        conference_groups.regroup(self)

    # -------------------------------------------------------------- outputs (conference_outputs.py)

    def start_recording(self, recording: Mp4Recording) -> None:
        """Record from the next tick on (a running recording is finished first)."""
        self.stop_recording()
        self.recording = recording
        self.regroup()

    def stop_recording(self) -> Mp4Recording | None:
        """Stop the recorder; its thread finishes the file (Mp4Recording.join)."""
        recording, self.recording = self.recording, None
        if recording is not None:
            recording.stop()
        return recording

    def add_viewer(self, viewer: LiveViewer, output: OutputFormat) -> None:
        """A live viewer watches from the next tick on; `output` the format of the
        conference picture (the recorder's)."""
        if self._closed:
            raise RuntimeError(f"conference {self.conf_id}'s media is closed")
        self.viewer_format = output
        self.viewers[viewer.viewer_id] = viewer
        self.regroup()

    def remove_viewer(self, viewer_id: str) -> None:
        viewer = self.viewers.pop(viewer_id, None)
        if viewer is not None:
            viewer.close()
            if not self._closed:
                self.regroup()  # its groups go when nobody else watches them

    def start_live(self, live: HlsBroadcast) -> None:
        """Broadcast from the next tick on (a running broadcast is finished first)."""
        self.stop_live()
        self.live = live
        self.regroup()

    def stop_live(self) -> HlsBroadcast | None:
        """Stop the broadcast; its thread finishes and removes the stream (join)."""
        live, self.live = self.live, None
        if live is not None:
            live.stop()
            if not self._closed:
                self.regroup()  # its group goes when nobody else watches it
        return live

    # ------------------------------------------------------------ video tick (conference_render.py)

    def next_video_tick(self, previous: float) -> float:
        return conference_render.next_video_tick(self.groups, previous)

    def plan_tick(self, now: float) -> RenderPlan:
        return conference_render.plan_tick(self, now)

    def render_item(self, plan: RenderPlan, item: RenderItem
                    ) -> list[tuple[EncoderGroup, list[av.Packet]]]:
        """Runs on a worker thread (conference_render.render_item)."""
        return conference_render.render_item(self._compositors, plan, item)

    async def _video_tick(self) -> None:
        await conference_render.video_tick(self)

    # ------------------------------------------------------------ send ladder (conference_sends.py)

    def shown_pictures(self) -> list[ShownPicture]:
        return conference_sends.shown_pictures(self)

    def send_asks(self) -> dict[str, SendAsk]:
        return conference_sends.send_asks(self)

    def settle_sends(self, now: float) -> None:
        conference_sends.settle_sends(self, now)

    # ------------------------------------------------------------------ audio (conference_audio.py)

    @property
    def mixed_speakers(self) -> frozenset[str]:
        return self.audio.mixed_speakers

    @property
    def mix_encoders(self) -> MixEncoders:
        return self.audio.mix_encoders

    @property
    def last_levels(self) -> dict[str, int]:
        return self.audio.last_levels

    @property
    def mix_wait_s(self) -> float:
        return self.audio.mix_wait_s

    def mix_once(self) -> MixResult | None:
        return self.audio.mix_once()

    def report_levels(self) -> None:
        self.audio.report_levels()

    async def _audio_step(self) -> None:
        await self.audio.step()

    # ------------------------------------------------------------------------------------ the ticks

    async def _run_ticks(
        self, tick: Callable[[], Awaitable[None]], next_at: Callable[[float], float]
    ) -> None:
        """Run `tick` at the loop times `next_at(previous tick's time)` gives, on a fixed
        schedule: a late tick shortens the wait for the next one; a loop more than
        MAX_LATENESS_S behind skips ahead instead of catching up."""
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while True:
            self.tick_lateness.observe(loop.time() - next_tick)
            await tick()
            next_tick = next_at(next_tick)
            delay = next_tick - loop.time()
            if delay < -MAX_LATENESS_S:
                next_tick, delay = loop.time(), 0.0
            await asyncio.sleep(max(0.0, delay))

    # ----------------------------------------------------------- measurements (conference_stats.py)

    def totals(self) -> MediaTotals:
        return conference_stats.totals(self)

    def input_stats(self) -> dict[str, InputStats]:
        return conference_stats.input_stats(self)

    def stats(self, now: float) -> list[GroupStats]:
        return conference_stats.group_stats(self, now)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("conference media task %s failed", task.get_name(), exc_info=task.exception())
