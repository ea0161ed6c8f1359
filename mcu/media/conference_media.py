"""The media of one live conference: what each site sees and hears.

State comes from the runtime's events only (one-way flow): the conference keeps a mirror of
what matters to media (layouts, broadcast, speaker, video sources, mute/quiet/volume, who
is joined in which order) and acts on it at its next tick.

Video, once per tick, each encoder group at its own frame rate (next_video_tick):
  1. (loop) every joined site with a negotiated codec gets a picture (PictureKey) and an
     output format; sites with equal (picture, format) share one EncoderGroup;
  2. (worker threads, one per picture and size, in parallel) each picture needed is
     composed once per size from the sites' latest frames, and encoded once per group that
     is due; the loop goes on meanwhile, and the next tick waits only for these pictures;
  3. (loop, when they are done) each group's packets go to every site of the group.
Content (the floor holder's aux stream, mcu/media/content_routes.py): each other site gets
it forwarded, transcoded (a CONTENT picture: the decoded content alone, in groups of its
own by (picture, format) like any picture, packets to the site's content track) or in its
main picture (CONTENT_MAIN: content large, speaker small); a `uri(%AUX1)` pane of a CP
picture shows it. The content is decoded (content_in) only while one of these needs pixels
(`content_decode_wanted`).
Audio, every 20 ms on the loop: one frame from each site's fifo, the loudest few sites
chosen (mcu/media/mixed_speakers.py), N-1 mix, each distinct mix encoded once for the Opus
sites that hear it (the others get it as a frame for aiortc's encoder), levels to the
runtime (voice-activated switching).
Content (aux) stream, on the loop as its frames arrive: the holder's encoded frames
(PresentationChanged's holder, while joined) are forwarded unchanged to every other joined
site that receives content in the same codec (mcu/media/content_forward.py); other sites'
content is dropped. The holder's content is decoded into `content_in` only while
`content_decode_wanted`. Which sites get the forwarded stream is settled at every tick.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from typing import Any

import av
import numpy as np

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
from mcu.layouts import LayoutMode, aux_source_key, layout_mode, parse_sub_pic
from mcu.live_conference import CONFERENCE_TARGET
from mcu.media.audio_mixer import (
    FRAME_SECONDS,
    SAMPLE_RATE,
    AudioMixer,
    MixInput,
    MixResult,
    full_mix,
)
from mcu.media.compositor import Compositor
from mcu.media.content_format import content_format_for
from mcu.media.content_forward import ContentForwarder
from mcu.media.content_routes import FORWARD, MAIN, TRANSCODE, ContentRoute, route_for
from mcu.media.encoder_group import KEYFRAME_MIN_INTERVAL_S, EncoderGroup, GroupKey
from mcu.media.frame_slots import LatestFrameSlot
from mcu.media.live_hls import HlsBroadcast
from mcu.media.live_viewers import LiveViewer, conference_view_key, place_viewer
from mcu.media.media_role import MediaRole
from mcu.media.media_totals import MediaTotals
from mcu.media.mix_encoders import MixEncoders
from mcu.media.mixed_speakers import DEFAULT_MIXED_SPEAKERS, MixedSpeakers
from mcu.media.output_format import (
    DEFAULT_VIDEO_FORMAT,
    H264,
    OutputFormat,
    fit_to_sizes,
    output_format_for,
)
from mcu.media.pictures import CONTENT_WITH_SPEAKER, PictureKey, PictureKind
from mcu.media.recorder import Mp4Recording
from mcu.media.recorder_groups import shared_group
from mcu.media.screen_pictures import NOTHING, screen_picture, source_of
from mcu.media.send_ladder import (
    SETTLE_PERIOD_S,
    SendAsk,
    SendLadder,
    ShownPicture,
    booked_ceiling,
    largest_panes,
    rung_for,
)
from mcu.media.site_media import SiteMedia
from mcu.media.tick_lateness import TickLateness
from mcu.media.video_encoders import VIDEO_CLOCK, EncoderTuning
from mcu.media.voice_activity import LevelMeter, mean_squares
from mcu.model import Presentation, SiteCallState, SiteSpec, VideoFormat
from mcu.screens import ScreenShown, VideoOutSource
from rtc.codec_preferences import OPUS

log = logging.getLogger(__name__)

CP_NONE = 0
FULL_SCREEN = layout_mode("CP_1_1").value
DEFAULT_TICK_FPS = 30
LEVEL_REPORT_FRAMES = 5  # report levels to the runtime every 100 ms
CONTENT_RECENT_S = 1.0  # content "is" sent / received: a frame within the last second
MAX_LATENESS_S = 0.2  # a loop further behind than this skips ahead instead of catching up
MIX_WAIT_SMOOTHING = 0.05  # per 20 ms step: the fifo wait followed over about 0.4 s


@dataclass(frozen=True, slots=True)
class PictureSettings:
    mode: int | LayoutMode
    sub_pics: tuple[str, ...]
    broadcast: str | None
    speaking: str | None


@dataclass
class SiteControl:
    muted: bool = False
    quiet: bool = False
    volume: int = 50
    video_source: str | None = None
    local_video_open: bool = True  # hideConfSiteLocalVideoEx: its panes show the placeholder
    # setVideoOutSrcEx: what each screen (hdOut) shows; a screen not named: the default rule
    screen_choices: dict[int, VideoOutSource] = field(default_factory=dict)


@dataclass
class _RenderItem:
    picture: PictureKey
    settings: PictureSettings
    size: tuple[int, int]
    groups: list[tuple[EncoderGroup, bool]]  # (group, keyframe)


@dataclass
class _RenderPlan:
    pts: int
    sources: dict[str, Any]
    items: list[_RenderItem]
    live_compositors: set[tuple[PictureKey, tuple[int, int]]] = field(default_factory=set)


@dataclass(frozen=True)
class GroupStats:
    picture: str
    format: str
    sites: tuple[str, ...]
    frames_encoded: int
    keyframes: int
    output_fps: float
    sender_restarts: int  # over the group's sites: a sender fell behind and waited for a keyframe


@dataclass(frozen=True)
class InputStats:
    """What the MCU gets from one joined site's main video now: the send ladder's ask
    ("960x540@30"; None: never asked, the ladder off or a site that cannot be asked) and the
    size of the latest picture decoded from it ("960x540"; None: none yet)."""

    asked: str | None
    decoded: str | None


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
    ) -> None:
        self.conf_id = conf_id
        # what each site is asked to send (mcu/media/send_ladder.py); None: never asked
        self.send_ladder: SendLadder | None = SendLadder() if send_ladder else None
        self._settled_at: float | None = None
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
        self.last_levels: dict[str, int] = {}
        self._report_levels = report_levels
        self._executor = executor
        self._mixer = AudioMixer()
        self._speakers = MixedSpeakers(mixed_speakers)
        self.mixed_speakers: frozenset[str] = frozenset()
        self.mix_encoders = MixEncoders()
        self._audio_tick = 0
        self._audio_steps = 0
        # how long the mixed samples waited in the sites' fifos (s, smoothed): the full mix's
        # capture time for the recording and the broadcast is its mixing time minus this
        self.mix_wait_s = 0.0
        self._meter = LevelMeter()
        self._compositors: dict[tuple[PictureKey, tuple[int, int]], Compositor] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._rendering: asyncio.Future[Any] | None = None
        self._started_at = 0.0
        self._closed = False
        # content (aux) stream
        self.content_in = LatestFrameSlot()  # the holder's content, decoded (when wanted)
        self.content_forwarder = ContentForwarder(self._ask_content_keyframe)
        self._presentation: str | None = None  # PresentationChanged's holder
        self._decode_requested = False  # content_decode_wanted set by hand (a viewer, a tool)
        self._decoding = False  # the holder's tap decodes (as route_content last settled)
        self._content_seen: dict[str, float] = {}  # uri -> monotonic time of its last frame
        self.recording: Mp4Recording | None = None  # the recorder (mcu/media/recorder.py)
        self.live: HlsBroadcast | None = None  # the live broadcast (mcu/media/live_hls.py)
        # the console's live viewers (mcu/media/live_viewers.py) and the format of the
        # conference picture they watch (the recorder's)
        self.viewers: dict[str, LiveViewer] = {}
        self.viewer_format: OutputFormat | None = None
        # the conference's part in a cascade (mcu/media/media_role.py); None: none
        self.role: MediaRole | None = None

    # ------------------------------------------------------------------ life cycle

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
        self.content_forwarder.close()

    def add_site(self, media: SiteMedia) -> None:
        """The media of a new call replaces that of the site's previous call."""
        previous = self.sites.get(media.uri)
        if previous is not None and previous is not media:
            self.retired.add(previous.totals())
            previous.close()
        self.sites[media.uri] = media
        media.on_content_frame = self.content_frame
        media.on_content_picture = self.content_picture

    def remove_site(self, media: SiteMedia) -> None:
        if self.sites.get(media.uri) is media:
            del self.sites[media.uri]
            self.retired.add(media.totals())
        media.close()

    # ------------------------------------------------------------------ runtime events

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
                if holder != self._presentation:
                    # the previous holder's last page must not show as the new holder's
                    self.content_in.clear()
                self._presentation = holder
                self.route_content()
            case _:
                pass

    def _control(self, uri: str) -> SiteControl:
        return self.controls.setdefault(uri, SiteControl())

    # ------------------------------------------------------------------ what a site sees

    def picture_for(self, viewer: str) -> PictureKey:
        """While content is shared, a site without a second stream watches the content in
        its main picture (CONTENT_MAIN). Otherwise setVideoSourceEx beats a broadcast site,
        which beats the CP broadcast, which beats the site's own CP picture; otherwise the
        conference picture. The broadcast site itself keeps watching its CP picture. A
        cascade role (media_role.py) may choose first."""
        if self.role is not None:
            chosen = self.role.picture_for(viewer)
            if chosen is not None:
                return chosen
        holder = self.content_source()
        if holder is not None and self.content_route(viewer) == MAIN \
                and not self.multi_screen(viewer):  # a multi-screen site: on screen 2
            return PictureKey(PictureKind.CONTENT_MAIN, holder)
        source = self._control(viewer).video_source
        if source is not None and source in self.joined:
            return PictureKey(PictureKind.SITE, source)
        broadcast = self.broadcast_site
        if broadcast is not None and broadcast != viewer and broadcast in self.joined:
            return PictureKey(PictureKind.SITE, broadcast)
        if not self.broadcast_cp and viewer in self.layouts:
            return PictureKey(PictureKind.CP, viewer)
        return PictureKey(PictureKind.CP, CONFERENCE_TARGET)

    # ------------------------------------------------------------------ screens

    def multi_screen(self, uri: str) -> bool:
        """The site's call feeds more than one screen (rtc/screen_sdp.py)."""
        media = self.sites.get(uri)
        return media is not None and bool(media.screen_outs)

    def watched(self, viewer: str) -> str | None:
        """The other joined site `viewer` watches full screen on a "remote main" screen: its
        video source, else the broadcast site, else the speaker, else the first other site
        to have joined; None when it is alone."""
        control = self._control(viewer)
        for uri in (control.video_source, self.broadcast_site, self.speaking):
            if uri is not None and uri != viewer and uri in self.joined:
                return uri
        return next((uri for uri in self.joined if uri != viewer), None)

    def screen_pictures(self, viewer: str) -> list[tuple[int, PictureKey]]:
        """(hdOut, picture) of each screen the site's call feeds, screen 1 first
        (mcu/media/screen_pictures.py); a single-screen site: its picture_for."""
        media = self.sites.get(viewer)
        if media is None:
            return []
        control = self._control(viewer)
        usual = self.picture_for(viewer)
        holder = self.content_source()
        speaker = self.speaking if self.speaking != viewer and self.speaking in self.joined \
            else None
        source = control.video_source if control.video_source != viewer \
            and control.video_source in self.joined else None
        watched = self.watched(viewer)
        return [(hd_out, screen_picture(position, control.screen_choices.get(hd_out),
                                        viewer=viewer, usual=usual, holder=holder,
                                        speaker=speaker, watched=watched, video_source=source))
                for position, (hd_out, _) in enumerate(media.screens())]

    def screens_shown(self, uri: str) -> list[ScreenShown]:
        """What each screen of the site gets now: the picture of the encoder group its
        track is in (the media, not the setting); "none" before a group feeds it."""
        media = self.sites.get(uri)
        if media is None:
            return []
        choices = self._control(uri).screen_choices
        shown = []
        for hd_out, track in media.screens():
            group = track.group
            picture = group.key.picture if isinstance(group, EncoderGroup) else None
            shown.append(ScreenShown(
                hd_out, choices.get(hd_out),
                source_of(picture, uri) if picture is not None else None,
                "none" if picture is None or picture == NOTHING else str(picture.kind),
                picture.target if picture is not None else ""))
        return shown

    def picture_settings(self, picture: PictureKey) -> PictureSettings:
        if self.role is not None:
            settings = self.role.picture_settings(picture)
            if settings is not None:
                return settings
        if picture.kind == PictureKind.SITE:
            return PictureSettings(FULL_SCREEN, (picture.target,), None, None)
        if picture.kind == PictureKind.CONTENT:
            return PictureSettings(FULL_SCREEN, (aux_source_key(picture.target),), None, None)
        if picture.kind == PictureKind.CONTENT_MAIN:
            holder = picture.target
            speaker = self.speaking if self.speaking in self.joined else holder
            return PictureSettings(CONTENT_WITH_SPEAKER,
                                   (aux_source_key(holder), speaker or holder), None, None)
        mode, sub_pics = self.layouts.get(
            picture.target, self.layouts.get(CONFERENCE_TARGET, (CP_NONE, ()))
        )
        speaking = self.speaking if self.audio_switch else None
        return PictureSettings(mode, sub_pics, self.broadcast_site, speaking)

    def output_format(self, media: SiteMedia) -> OutputFormat | None:
        if media.video_codec is None:
            return None
        output = fit_to_sizes(output_format_for(
            media.spec,
            media.video_codec,
            conference_rate=self.conference_rate,
            default_format=self.default_format,
        ), media.video_sizes)
        if media.video_single_nal and output.codec == H264:
            return replace(output, single_nal=True)
        return output

    # ------------------------------------------------------------------ content

    def content_source(self) -> str | None:
        """The site whose content is shared now: the floor holder while it is joined (its
        panes show the placeholder until its content pictures arrive; content_holder, the
        site whose content stream is received, also needs a call that can send one)."""
        holder = self._presentation
        if holder is not None and holder in self.joined and holder in self.sites:
            return holder
        return None

    def content_format_of(self, site: SiteSpec, codec: str) -> OutputFormat:
        """The content format this conference sends `site` in `codec`: the one rule
        (mcu/media/content_format.py) for the content m-line's statement and for what is
        forwarded or transcoded."""
        return content_format_for(
            site, codec, aux_format=self.aux_video_format, presentation=self.presentation,
            conference_rate=self.conference_rate, default_format=self.default_format)

    def content_output(self, media: SiteMedia) -> OutputFormat | None:
        """The content output a site receives on its second stream (content_format_of);
        None when its call has no second stream."""
        if media.content_out is None or media.content_codec is None:
            return None
        return self.content_format_of(media.spec, media.content_codec)

    def content_route(self, uri: str) -> ContentRoute | None:
        """How the shared content reaches `uri`: "forward" (the holder's packets unchanged:
        the forwarding consults this for each receiver), "transcode" (a content group of this
        conference feeds its content track), "main" (in its main picture) or None (nothing
        shared, the site is not joined, or it is the holder)."""
        holder = self.content_source()
        media = self.sites.get(uri)
        if holder is None or uri == holder or uri not in self.joined or media is None:
            return None
        receives = self.content_output(media) if media.content_receive else None
        return route_for(receives, self.content_output(self.sites[holder]))

    def shows_content(self, picture: PictureKey, holder: str) -> bool:
        """Whether `picture` has a pane that shows the holder's content."""
        if picture.kind in (PictureKind.CONTENT, PictureKind.CONTENT_MAIN):
            return True
        if picture.kind != PictureKind.CP:
            return False
        settings = self.picture_settings(picture)
        mode = layout_mode(settings.mode)
        if mode.voice_switched:
            return False
        return any(parse_sub_pic(entry) == (holder, True)
                   for entry in settings.sub_pics[: mode.pane_count] if entry)

    @property
    def content_decode_wanted(self) -> bool:
        """True while some site needs the content's pixels: a pane shows `uri(%AUX1)` of
        the holder, a site without a second stream gets content in its main picture, or a
        receiver needs it transcoded; or it was asked for by hand (the setter: a viewer or
        a tool). False: nobody does, and content_in is not fed (forwarding alone needs no
        decoding). route_content, at every tick and every floor change, applies it."""
        holder = self.content_source()
        if holder is None:
            return False
        if self._decode_requested or self.recording is not None:
            return True  # the recorder's content track
        if any(viewer.viewpoint.site not in (None, holder) for viewer in self.viewers.values()):
            return True  # a viewer's content track
        for uri in self.joined:
            media = self.sites.get(uri)
            if media is None:
                continue
            if self.content_route(uri) in (MAIN, TRANSCODE):
                return True
            if self.output_format(media) is not None and any(
                    self.shows_content(picture, holder)
                    for _, picture in self.screen_pictures(uri)):
                return True
        return False

    @content_decode_wanted.setter
    def content_decode_wanted(self, wanted: bool) -> None:
        """Ask for (or stop asking for) the holder's content decoded into content_in, whether
        or not a picture needs it."""
        self._decode_requested = wanted
        self.route_content()

    # ------------------------------------------------------------------ video

    def _group(self, key: GroupKey) -> EncoderGroup:
        group = self.groups.get(key)
        if group is None:
            group = EncoderGroup(key, self.tuning, keyframe_min_interval=self.keyframe_min_interval)
            self.groups[key] = group
            self._warm_up(group)
        return group

    def _warm_up(self, group: EncoderGroup) -> None:
        """Start the new group's encoder on a worker (EncoderGroup.warm_up); the group joins
        the ticks once it is ready. When no ticks run (before start(), after close(), or
        outside the loop) it is ready at once and its first encode starts the encoder."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None or not self._tasks or self._closed:
            group.ready = True
            return
        pts = int((loop.time() - self._started_at) * VIDEO_CLOCK) - 1
        loop.run_in_executor(self._executor, group.warm_up, pts)

    def regroup(self) -> None:
        """Put every joined site's outgoing track into the group of what it should receive;
        close groups nobody receives any more."""
        wanted: set[GroupKey] = set()
        holder = self.content_source()
        for uri in self.joined:
            media = self.sites.get(uri)
            if media is None:
                continue
            output = self.output_format(media)
            if media.video_held:  # on hold: no group encodes for it (sip_reinvite.py)
                for _, track in media.screens():
                    track.join_group(None)
            elif output is not None:  # every screen at the main video's format
                tracks = dict(media.screens())
                for hd_out, picture in self.screen_pictures(uri):
                    key = GroupKey(picture, output)
                    tracks[hd_out].join_group(self._group(key))
                    wanted.add(key)
            if media.content_out is None:
                continue
            content = self.content_output(media)
            if holder is not None and content is not None and self.content_route(uri) == TRANSCODE:
                key = GroupKey(PictureKey(PictureKind.CONTENT, holder), content)
                media.content_out.join_group(self._group(key))
                wanted.add(key)
            else:  # forwarded (or nothing shared): no content group of ours feeds it
                media.content_out.join_group(None)
        sites_wanted = frozenset(wanted)  # the recorder and the rest share these if they can
        wanted |= self._regroup_recorder(holder, sites_wanted)
        wanted |= self._regroup_live(sites_wanted)
        wanted |= self._regroup_viewers(holder, sites_wanted)
        for uri, media in self.sites.items():
            if uri not in self.joined:
                for _, track in media.screens():
                    track.join_group(None)
                if media.content_out is not None:
                    media.content_out.join_group(None)
        for key in [key for key, group in self.groups.items() if key not in wanted]:
            self.encoders_opened += self.groups[key].encoder_opened
            self.retired.video_frames_encoded += self.groups[key].frames_encoded
            self.groups.pop(key).close()
        self.route_content()

    def _regroup_recorder(self, holder: str | None, sites: frozenset[GroupKey]
                          ) -> set[GroupKey]:
        """The recorder watches the conference picture (a site with no picture of its own
        would) at its format; while content is shared, the CONTENT picture too. Each in a
        site's group of that picture and size when there is one (recorder_groups.py)."""
        recording = self.recording
        if recording is None:
            return set()
        main = shared_group(
            GroupKey(PictureKey(PictureKind.CP, CONFERENCE_TARGET), recording.format), sites)
        recording.main.join_group(self._group(main))
        if holder is None:
            recording.content.join_group(None)
            return {main}
        content = shared_group(
            GroupKey(PictureKey(PictureKind.CONTENT, holder), recording.format), sites)
        recording.content.join_group(self._group(content))
        return {main, content}

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

    def _regroup_viewers(self, holder: str | None, sites: frozenset[GroupKey]
                         ) -> set[GroupKey]:
        """Each viewer's tracks in the groups of what it watches (live_viewers.py)."""
        wanted: set[GroupKey] = set()
        for viewer in self.viewers.values():
            site = viewer.viewpoint.site
            screens, content = None, None
            if site is not None:
                media = self.sites.get(site)
                output = self.output_format(media) if media is not None else None
                if media is not None and output is not None and site in self.joined:
                    screens = [(picture, output) for _, picture in self.screen_pictures(site)]
                    if holder is not None and holder != site:
                        content = GroupKey(PictureKey(PictureKind.CONTENT, holder), output)
            cp = (shared_group(conference_view_key(self.viewer_format), sites)
                  if self.viewer_format else None)
            wanted |= place_viewer(viewer, self._group, cp, screens, content)
        return wanted

    def _hear_viewers(self, inputs: list[MixInput], frames: dict[str, np.ndarray],
                      result: MixResult) -> None:
        """Each viewer's 20 ms: the full mix (conference view) or what its site hears."""
        mix = None
        for viewer in self.viewers.values():
            site = viewer.viewpoint.site
            if site is None:
                if mix is None:
                    mix = full_mix(inputs, frames)
                viewer.hear(mix)
            elif site in result.heard_by:
                viewer.hear(result.heard(site))

    def _regroup_live(self, sites: frozenset[GroupKey]) -> set[GroupKey]:
        """The live broadcast watches the conference picture at its format: the recorder's
        group when both run at the same format (one encode for both), a site's when it can
        (recorder_groups.py)."""
        if self.live is None:
            return set()
        main = shared_group(
            GroupKey(PictureKey(PictureKind.CP, CONFERENCE_TARGET), self.live.format), sites)
        self.live.main.join_group(self._group(main))
        return {main}

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

    def next_video_tick(self, previous: float) -> float:
        """When the next video tick is due: when the first encoder group is next due, so
        every group is composed and encoded at its own frame rate (a 25 fps group 25 times a
        second at even 40 ms steps, a 60 fps one 60 times, a 30 fps one beside them 30),
        not on a common tick that a 25 fps group could only follow unevenly. A group whose
        time is already past (one a tick skipped: a content picture not there yet) counts
        one of its periods from `previous`, so it never makes the loop spin; no group: the
        default rate."""
        if not self.groups:
            return previous + 1.0 / DEFAULT_TICK_FPS
        return min(group.next_due if group.next_due > previous + 1e-3
                   else previous + 1.0 / group.format.fps
                   for group in self.groups.values())

    def plan_tick(self, now: float) -> _RenderPlan:
        self.regroup()
        self.settle_sends(now)
        sources: dict[str, Any] = {}
        for uri in self.joined:
            media = self.sites.get(uri)
            if media is not None and self._control(uri).local_video_open:
                sources[uri] = media.video_in.take()
            else:
                sources[uri] = None
        holder = self.content_source()
        if holder is not None:  # None until its first decoded picture: the placeholder
            wanted = self.content_decode_wanted
            sources[aux_source_key(holder)] = self.content_in.take() if wanted else None
        if self.role is not None:  # a cascade's pictures of the sites of another engine
            self.role.add_sources(sources)
        by_picture: dict[tuple[PictureKey, tuple[int, int]], _RenderItem] = {}
        live: set[tuple[PictureKey, tuple[int, int]]] = set()
        for key, group in self.groups.items():
            size = key.format.size
            live.add((key.picture, size))
            if key.picture.kind == PictureKind.CONTENT and sources.get(
                    aux_source_key(key.picture.target)) is None:
                continue  # no content picture yet: send nothing rather than a placeholder
            if not group.ready or not group.is_due(now):
                continue
            item = by_picture.get((key.picture, size))
            if item is None:
                item = _RenderItem(key.picture, self.picture_settings(key.picture), size, [])
                by_picture[(key.picture, size)] = item
            item.groups.append((group, group.take_keyframe_request(now)))
        pts = int((now - self._started_at) * VIDEO_CLOCK)
        plan = _RenderPlan(pts, sources, list(by_picture.values()), live)
        self._prepare_compositors(plan)
        return plan

    def shown_pictures(self) -> list[ShownPicture]:
        """Every picture composed now (one per encoder group's picture and size, at the
        fastest rate of its groups), as the compositor fills it."""
        rates: dict[tuple[PictureKey, int, int], int] = {}
        for key in self.groups:
            size = (key.picture, key.format.width, key.format.height)
            rates[size] = max(rates.get(size, 0), key.format.fps)
        shown = []
        for (picture, width, height), fps in rates.items():
            settings = self.picture_settings(picture)
            shown.append(ShownPicture(settings.mode, settings.sub_pics, settings.broadcast,
                                      settings.speaking, width, height, fps))
        return shown

    def send_asks(self) -> dict[str, SendAsk]:
        """The rung each joined site that can be asked needs now (send_ladder.py's rule),
        before hysteresis."""
        holder = self.content_source()
        needs = largest_panes(self.shown_pictures(), self.joined,
                              (holder,) if holder is not None else ())
        asks = {}
        for uri in self.joined:
            media = self.sites.get(uri)
            if media is None or media.ask_send is None or media.video_codec is None:
                continue
            need = needs.get(uri) if self._control(uri).local_video_open else None
            asks[uri] = rung_for(need, (booked_ceiling(media.spec.video_format),
                                        media.send_ceiling))
        return asks

    def settle_sends(self, now: float) -> None:
        """Every SETTLE_PERIOD_S: ask the sites whose rung changed (send_ladder.py)."""
        ladder = self.send_ladder
        if ladder is None or (self._settled_at is not None
                              and now - self._settled_at < SETTLE_PERIOD_S):
            return
        self._settled_at = now
        asks = self.send_asks()
        changes = ladder.settle({uri: (ask, self.sites[uri]) for uri, ask in asks.items()}, now)
        for uri, ask in changes.items():
            sender = self.sites[uri].ask_send
            if sender is not None:
                sender(ask)

    def render_item(self, plan: _RenderPlan, item: _RenderItem
                    ) -> list[tuple[EncoderGroup, list[av.Packet]]]:
        """Runs on a worker thread: compose one picture at one size, encode it for each of
        its due groups. The items of a tick have their own compositor and groups each, so
        they can be made at the same time."""
        compositor = self._compositors[(item.picture, item.size)]
        settings = item.settings
        compositor.set_layout(settings.mode)
        compositor.set_sub_pics(settings.sub_pics)
        compositor.set_broadcast(settings.broadcast)
        compositor.set_speaking(settings.speaking)
        frame = compositor.compose(plan.sources)
        return [(group, group.encode(frame, plan.pts, keyframe))
                for group, keyframe in item.groups]

    def _prepare_compositors(self, plan: _RenderPlan) -> None:
        """On the loop, before the workers start: drop the compositors of pictures no group
        receives any more, open those of new pictures."""
        for key in [key for key in self._compositors if key not in plan.live_compositors]:
            del self._compositors[key]
        for item in plan.items:
            key = (item.picture, item.size)
            if key not in self._compositors:
                self._compositors[key] = Compositor(*item.size, item.settings.mode)

    async def _video_tick(self) -> None:
        """One video tick: wait for the previous tick's pictures only (so a group's frames
        stay in order), plan this one and start its pictures on the workers. The loop goes
        on meanwhile and a callback hands the packets to the groups when they are done, so
        the ticks run on time whatever the event loop's delay in taking results back."""
        if self._rendering is not None and not self._rendering.done():
            await asyncio.wait([self._rendering])
        loop = asyncio.get_running_loop()
        plan = self.plan_tick(loop.time())
        if plan.items:
            # return_exceptions: a failed picture must not end the gathering while the
            # others still run (the next tick would start their encoders a second time)
            self._rendering = asyncio.gather(*(
                loop.run_in_executor(self._executor, self.render_item, plan, item)
                for item in plan.items), return_exceptions=True)
            self._rendering.add_done_callback(self._deliver)

    def _deliver(self, rendering: asyncio.Future[Any]) -> None:
        """Each picture's packets to its groups; a picture that failed is logged, the
        others are delivered."""
        if rendering.cancelled():
            return
        done = asyncio.get_running_loop().time()
        for encoded in rendering.result():
            if isinstance(encoded, BaseException):
                log.error("conference %s: a picture failed", self.conf_id, exc_info=encoded)
                continue
            delivered: list[tuple[EncoderGroup, list[av.Packet]]] = encoded
            for group, packets in delivered:
                if self.groups.get(group.key) is group:  # not closed while encoding
                    group.deliver(packets, done)

    # ------------------------------------------------------------------ content (aux) stream

    @property
    def content_holder(self) -> str | None:
        """The site whose content is received and passed on: the presentation holder, while
        it is joined with a call that can send content; None otherwise."""
        holder = self._presentation
        media = self.sites.get(holder) if holder is not None else None
        if media is None or holder not in self.joined or not media.content_send:
            return None
        return holder

    def content_forwarded_to(self, media: SiteMedia, codec: str | None) -> bool:
        """Whether `media`'s site gets the holder's content unchanged: joined, not the
        holder, showing content on a second stream in the holder's codec and format (its
        content route is "forward"; the others are transcoded or shown in the main picture)."""
        return (codec is not None and media.uri in self.joined
                and media.uri != self.content_holder
                and media.content_receive and media.content_codec == codec
                and self.content_route(media.uri) == FORWARD)

    def route_content(self) -> None:
        """Settle who gets the holder's content: the forwarder follows the holder, each
        site's content track joins it or leaves it, the holder's tap decodes when wanted."""
        holder = self.content_holder
        sender = self.sites.get(holder) if holder is not None else None
        codec = sender.content_codec if sender is not None else None
        wanted = self.content_decode_wanted
        started, self._decoding = wanted and not self._decoding, wanted
        self.content_forwarder.switch_source(holder)
        if self.content_source() is None and self.content_in.frame is not None:
            self.content_in.put(None)  # nothing shared: no stale picture either
        for media in self.sites.values():
            if self.content_forwarded_to(media, codec):
                media.content_out.join_group(self.content_forwarder)
            elif media.content_out.group is self.content_forwarder:
                media.content_out.join_group(None)
            if media.content_tap is not None:
                media.content_tap.decode = media is sender and wanted
        if started:  # the decoder starts at the holder's next keyframe: ask for it
            self._ask_content_keyframe()

    def content_frame(self, uri: str, codec: str, data: bytes, timestamp: int) -> None:
        """An encoded content frame of `uri` (its ContentTap, on the loop): the holder's goes
        to the receiving sites; anyone else's is dropped."""
        self._content_seen[uri] = time.monotonic()
        if uri == self.content_holder and uri == self.content_forwarder.source:
            self.content_forwarder.forward(codec, data, timestamp)

    def content_picture(self, uri: str, frame: Any) -> None:
        """A decoded content frame of `uri`: the holder's is the conference's content."""
        if uri == self.content_holder and self._decoding:
            self.content_in.put(frame)

    def content_sending(self, uri: str) -> bool:
        """Frames of this site's content arrived in the last second (whether or not it is
        the holder: a non-holder's are dropped, but they did arrive)."""
        seen = self._content_seen.get(uri)
        return seen is not None and time.monotonic() - seen < CONTENT_RECENT_S

    def content_receiving(self, uri: str) -> bool:
        """This site's second stream carried content in the last second."""
        media = self.sites.get(uri)
        sent = media.content_out.last_sent_at if media is not None else None
        return (media is not None and media.content_out.group is not None
                and sent is not None and time.monotonic() - sent < CONTENT_RECENT_S)

    def _ask_content_keyframe(self) -> None:
        holder = self.content_forwarder.source
        media = self.sites.get(holder) if holder is not None else None
        if media is not None:
            media.request_content_keyframe()

    # ------------------------------------------------------------------ audio

    def mix_once(self) -> MixResult | None:
        """One 20 ms step: take a frame from every joined site, choose the mixed speakers,
        mix N-1, encode each distinct mix once, queue the result on the outgoing tracks,
        meter the levels."""
        participants = [uri for uri in self.joined if uri in self.sites]
        if not participants:
            return None
        frames = {}
        waiting = []
        for uri in participants:
            fifo = self.sites[uri].audio_in.fifo
            samples = fifo.read_frame()
            if samples is not None:
                frames[uri] = samples
                waiting.append(len(fifo))
        if waiting:
            # the frame just read arrived about as long ago as the samples behind it last
            waited = sum(waiting) / len(waiting) / SAMPLE_RATE
            self.mix_wait_s += MIX_WAIT_SMOOTHING * (waited - self.mix_wait_s)
        inputs = []
        for uri in participants:
            control = self._control(uri)
            inputs.append(MixInput(uri, control.muted, control.quiet, control.volume))
        heard = list(frames)
        powers = mean_squares(np.stack([frames[uri] for uri in heard])) if heard else None
        eligible = [site.uri for site in inputs if not site.muted]
        speakers = self._speakers.update(
            dict(zip(heard, powers.tolist(), strict=True)) if powers is not None else {},
            eligible)
        self.mixed_speakers = speakers
        result = self._mixer.mix(inputs, frames, speakers)
        if self.recording is not None or self.live is not None:
            loop_time = asyncio.get_running_loop().time()
            # stamped with when its samples arrived (as the composed picture is with when it
            # takes its inputs' latest pictures), not when the mixer read them: the
            # recording's audio would lag its video by the fifos' depth (terminals/av_sync)
            captured = loop_time - self.mix_wait_s
            mix, taken = full_mix(inputs, frames), int((captured - self._started_at) * VIDEO_CLOCK)
            for sink in (self.recording, self.live):
                if sink is not None:
                    sink.put_audio(mix, taken)
        if self.viewers:
            self._hear_viewers(inputs, frames, result)
        opus_sites = {uri for uri in participants if self.sites[uri].audio_codec == OPUS}
        packets = self.mix_encoders.encode(result, opus_sites, self._audio_tick)
        self._audio_tick += 1
        for uri in participants:
            key = result.heard_by[uri]
            if uri in opus_sites:
                self.sites[uri].audio_out.push_packets(packets[key])
            else:
                self.sites[uri].audio_out.push(result.mixes[key])
        if powers is not None:
            self._meter.add(heard, powers)
        return result

    def report_levels(self) -> None:
        levels = self._meter.take_levels()
        for uri in self.joined:
            levels.setdefault(uri, 0)
        self.last_levels = levels
        if self.role is not None:  # a cascade: the other engine's sites, or through the link
            levels = self.role.levels(levels)
        if levels:
            self._report_levels(self.conf_id, levels)

    async def _audio_step(self) -> None:
        """One 20 ms step, and the levels to the runtime every LEVEL_REPORT_FRAMES steps."""
        self.mix_once()
        self._audio_steps += 1
        if self._audio_steps % LEVEL_REPORT_FRAMES == 0:
            try:
                self.report_levels()
            except Exception:  # the conference may have ended between two ticks
                log.debug("level report for %s refused", self.conf_id, exc_info=True)

    # ------------------------------------------------------------------ the ticks

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

    # ------------------------------------------------------------------ measurements

    def totals(self) -> MediaTotals:
        """This conference's counts so far: its closed groups and calls and the live ones."""
        live = MediaTotals(
            video_frames_encoded=sum(group.frames_encoded for group in self.groups.values()),
            audio_mix_frames_encoded=self.mix_encoders.frames_encoded,
        )
        for media in self.sites.values():
            live.add(media.totals())
        return self.retired.plus(live)

    def input_stats(self) -> dict[str, InputStats]:
        """Each joined site's ask and decoded size (InputStats), by URI."""
        inputs = {}
        for uri in self.joined:
            media = self.sites.get(uri)
            frame = media.video_in.frame if media is not None else None
            ask = self.send_ladder.asked(uri) if self.send_ladder is not None else None
            inputs[uri] = InputStats(
                str(ask) if ask is not None else None,
                f"{frame.width}x{frame.height}" if frame is not None else None)
        return inputs

    def stats(self, now: float) -> list[GroupStats]:
        return [
            GroupStats(
                picture=f"{key.picture.kind}:{key.picture.target}",
                format=str(key.format),
                sites=tuple(sorted(track.uri for track in group.subscribers)),
                frames_encoded=group.frames_encoded,
                keyframes=group.keyframes_encoded,
                output_fps=round(group.output_rate.rate(now), 1),
                sender_restarts=sum(track.backlog_restarts for track in group.subscribers),
            )
            for key, group in self.groups.items()
        ]


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("conference media task %s failed", task.get_name(), exc_info=task.exception())
